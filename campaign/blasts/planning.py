"""Set-based planning of one step occurrence into Outbound rows (invariants 1, 2, 3 and 4).

Flow: segment condition AND blast_eligible() AND not already planned -> the needed contact
columns only, in keyset-paged chunks (no ORM object per row) -> consent (none: skipped as
no_consent) -> A/B variant -> per-contact frequency caps across campaigns (one aggregate query per
chunk; over: frequency_cap) -> language choice (contact language, else the step's fallback chain;
approved translations only) -> render (each template compiled once; rendered once when it does
not use `contact`) -> encoding policy (step's, else the language's default) -> segments ->
send_after from a `pacing.Slotter` (the campaign's max_per_hour, the deployment's hourly cap
across campaigns) inside the contact's local send window; expires_at from the deadline ->
chunked bulk insert, each chunk written in a worker thread while the next is rendered: a first
planning COPYs straight in (PostgreSQL), a re-run inserts ON CONFLICT DO NOTHING on
(occurrence_id, contact_id), so it never plans anything twice.

`plan_rows` is shared with the preview, so preview figures are what planning inserts.

Channels (campaign/blasts/channels.py): on a WhatsApp step each contact gets WhatsApp only with a
WhatsApp opt-in (else SMS when the step allows `[whatsapp, sms]`, else skipped
no_whatsapp_consent). A WhatsApp row keeps the rendered free text and, when the library has an
approved template for its language, the template (Content SID + rendered variables, encrypted);
dispatch picks one by the 24 h window at send time. Without a template and with the window closed
now, the contact gets SMS on `[whatsapp, sms]` steps, else is skipped whatsapp_template_missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, select, true, type_coerce, update
from sqlalchemy.orm import Session

from audiences.custom_sql import custom_value
from audiences.models import Contact, FieldType
from campaign.blasts.channels import (
    NO_WHATSAPP_CONSENT,
    SMS,
    TEMPLATE_MISSING,
    WHATSAPP,
    channel_for,
    content_template,
    is_messaging,
    step_channels,
    step_recordings,
    whatsapp_window_open,
)
from campaign.blasts.eligibility import blast_eligible, has_consent
from campaign.blasts.frequency import FREQUENCY_CAP, FrequencyCap
from campaign.blasts.models import Campaign, Occurrence, OccurrenceStatus, Outbound, OutboundStatus, Step
from campaign.blasts.pacing import Grid, Slotter, load_by_bucket, phone_zone
from campaign.blasts.rules import DeploymentRules, clamp_window, rules_from
from campaign.blasts.schedules import offset_target_date
from campaign.blasts.windows import zone
from campaign.core.config import Settings
from campaign.core.crypto import Keyring, decrypt, keyring, sealed
from campaign.core.db import bulk_insert, refresh_statistics, rowcount
from campaign.core.errors import Invalid
from campaign.core.languages import build_registry
from messages.encoding import apply_policy
from messages.rendering import build_context, contact_fields, render, template_variables

CHUNK = 10_000
NO_TRANSLATION = "no_translation"
NO_CONSENT = "no_consent"
RENDER_ERROR = "render_error"
MISSING_FIELD = "missing_field"
# What `contact` holds in a template besides the contact's custom fields (see _contact_dict).
CONTACT_FIELDS = ("name", "first_name", "language", "department", "municipality_code")


# --- pure helpers -----------------------------------------------------------------------------


def choose_language(contact_language: str | None, chain: list[str], available: set[str]) -> str | None:
    """The first language of the fallback chain with an approved translation ("contact" = the
    contact's own language); None when the contact must be skipped (invariant 3)."""
    for entry in chain:
        code = contact_language if entry == "contact" else entry
        if code and code in available:
            return code
    return None


def variant_bucket(contact_id: int, step_id: int) -> int:
    """A stable 0..99 bucket per (contact, step): deterministic A/B assignment."""
    mixed = (contact_id * 2654435761 + step_id * 40503) & 0xFFFFFFFF
    mixed ^= mixed >> 16
    return (mixed * 0x45D9F3B & 0xFFFFFFFF) % 100


def assign_variant(
    contact_id: int, step_id: int, main_message_id: int, variants: list[dict[str, Any]]
) -> tuple[str | None, int]:
    """(variant key, message id) for a contact: B/C/... by their split percentages, else A."""
    if not variants:
        return None, main_message_id
    bucket = variant_bucket(contact_id, step_id)
    edge = 0
    for variant in variants:
        edge += int(variant["split"])
        if bucket < edge:
            return str(variant["key"]), int(variant["message_id"])
    return "A", main_message_id


# --- loading what a step needs once -----------------------------------------------------------


@dataclass
class _Template:
    body: str
    version: int
    uses_contact: bool
    policy: str
    # Custom fields the body reads without a `| default(...)`: a contact without one is skipped.
    required: tuple[str, ...] = ()


def required_fields(body: str) -> tuple[str, ...]:
    """The custom contact fields a template cannot do without (read with no default)."""
    return tuple(
        sorted(
            name
            for name, has_default in contact_fields(body).items()
            if not has_default and name not in CONTACT_FIELDS
        )
    )


@dataclass
class StepPlan:
    """Everything planning needs about a step, loaded once (plain values)."""

    campaign: Campaign
    step: Step
    templates: dict[tuple[int, str], _Template]
    available: dict[int, set[str]]
    context: dict[str, Any]
    uses_contact: bool
    rules: DeploymentRules = field(default_factory=DeploymentRules)
    # WhatsApp: the approved template (Content SID, variables) per (message id, language), and the
    # step's voice note: recording id per language.
    whatsapp_templates: dict[tuple[int, str], tuple[str, dict[str, str]]] = field(default_factory=dict)
    recordings: dict[str, int] = field(default_factory=dict)
    _cache: dict[tuple[int, str], tuple[str, str, int] | str] = field(default_factory=dict)
    _choices: dict[str | None, tuple[None, int, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Plain copies of the step's values: attribute access on ORM objects is slow per row.
        self.step_id = self.step.id
        self.main_message_id = self.step.message_id
        self.variants = list(self.step.variants or [])
        self.chain = list(self.step.fallback or ["contact"])
        self.channels = step_channels(self.step.channel, self.step.channel_fallback)
        self.whatsapp = WHATSAPP in self.channels

    def template_for(
        self, message_id: int, language: str, contact: dict[str, Any] | None
    ) -> tuple[str, str] | None:
        """(Content SID, ContentVariables JSON) of the approved WhatsApp template, or None (none
        for that language, or a variable that does not render for this contact)."""
        import json

        from messages.whatsapp import content_values

        found = self.whatsapp_templates.get((message_id, language))
        if found is None:
            return None
        sid, variables = found
        try:
            values = content_values(variables, {**self.context, "contact": contact or {}})
        except Invalid:
            return None
        return sid, json.dumps(values, ensure_ascii=False, sort_keys=True)

    def message_for(
        self, contact_id: int, contact_language: str | None
    ) -> tuple[str | None, int, str | None]:
        """(variant, message id, language) for one contact; language None = skip (no translation)."""
        if not self.variants:  # then the choice depends on the language only: one per language
            found = self._choices.get(contact_language)
            if found is None:
                main = self.main_message_id
                language = choose_language(contact_language, self.chain, self.available.get(main, set()))
                found = self._choices[contact_language] = (None, main, language)
            return found
        variant, message_id = assign_variant(contact_id, self.step_id, self.main_message_id, self.variants)
        language = choose_language(contact_language, self.chain, self.available.get(message_id, set()))
        return variant, message_id, language

    def text_for(
        self, message_id: int, language: str, contact: dict[str, Any] | None
    ) -> tuple[str, str, int] | str:
        """(body, encoding, segments), or a skip reason: missing_field when the contact lacks a
        custom field the template reads without a default, render_error when rendering fails."""
        template = self.templates[(message_id, language)]
        key = (message_id, language)
        if not template.uses_contact and key in self._cache:
            return self._cache[key]
        if template.required and any((contact or {}).get(name) in (None, "") for name in template.required):
            return MISSING_FIELD
        try:
            text = render(template.body, {**self.context, "contact": contact or {}})
        except Invalid:
            out: tuple[str, str, int] | str = RENDER_ERROR
        else:
            info = apply_policy(text, template.policy)
            out = (info.text, info.encoding, info.segments)
        if not template.uses_contact:
            self._cache[key] = out
        return out


def load_step_plan(session: Session, step: Step, *, settings: Settings) -> StepPlan:
    """Reads the campaign, approved translations and rendering context of an SMS step."""
    from messages.library import approved_translations

    campaign = step.campaign
    message_ids = [step.message_id, *[int(v["message_id"]) for v in step.variants or []]]
    registry = build_registry(settings.extra_languages)
    templates: dict[tuple[int, str], _Template] = {}
    available: dict[int, set[str]] = {}
    for (message_id, language), translation in approved_translations(session, message_ids).items():
        policy = step.encoding or (
            registry.get(language).encoding_policy if language in registry else "smart"
        )
        uses = "contact" in template_variables(translation.body)
        required = required_fields(translation.body) if uses else ()
        key = (message_id, language)
        templates[key] = _Template(translation.body, translation.version, uses, policy, required)
        available.setdefault(message_id, set()).add(language)
    context = build_context(
        defaults=settings.hotline_defaults, campaign=campaign.variables, step=step.variables
    )
    uses_contact = any(t.uses_contact for t in templates.values())
    whatsapp_templates: dict[tuple[int, str], tuple[str, dict[str, str]]] = {}
    if step.channel == WHATSAPP:
        from messages.models import Message

        for message in session.scalars(select(Message).where(Message.id.in_(message_ids))):
            for language in available.get(message.id, set()):
                found = content_template(message, language)
                if found is not None:
                    whatsapp_templates[(message.id, language)] = found
        uses_contact = uses_contact or any(
            str(name).startswith("contact.")
            for _, variables in whatsapp_templates.values()
            for name in variables.values()
        )
    return StepPlan(
        campaign, step, templates, available, context, uses_contact, rules_from(settings),
        whatsapp_templates, step_recordings(session, step.audio) if step.channel == WHATSAPP else {},
    )


# --- selection --------------------------------------------------------------------------------


def audience_condition(
    session: Session, step: Step, *, now: datetime, occurrence: Occurrence | None
) -> ColumnElement[bool]:
    """Segment AND eligible (invariant 2) AND not yet planned for this occurrence (or, for offset
    steps, for this step at all) AND, for offset steps, the contact date that is due."""
    from audiences.segments import segment_condition

    target = step.segment_slug or step.query
    condition: ColumnElement[bool] = (
        segment_condition(session, target, today=now.date()) if target else true()
    )
    parts = [condition, blast_eligible()]
    # Rows this run inserts are behind the keyset cursor (contact ids only grow), so the anti-join
    # only matters when the occurrence already had rows (re-planned by hand). Leaving it out
    # otherwise keeps PostgreSQL from re-reading the growing outbound rows for every chunk.
    occurrence_id = occurrence.id if occurrence is not None else None
    already_started = occurrence_id is not None and session.scalar(
        select(exists().where(Outbound.occurrence_id == occurrence_id))
    )
    if already_started:
        parts.append(
            ~exists(
                select(Outbound.id).where(
                    Outbound.occurrence_id == occurrence_id, Outbound.contact_id == Contact.id
                )
            )
        )
    if step.offset:
        parts.append(_offset_condition(session, step, occurrence, now=now))
    return and_(*parts)


def _offset_condition(
    session: Session, step: Step, occurrence: Occurrence | None, *, now: datetime
) -> ColumnElement[bool]:
    offset = step.offset or {}
    days = int(offset.get("days", 0))
    tz = zone(step.campaign.timezone)
    scheduled = occurrence.scheduled_at if occurrence is not None else None
    fire_day = (scheduled or now).astimezone(tz).date()
    target = offset_target_date(fire_day, days).isoformat()
    value = custom_value(offset["field"], FieldType.DATE)  # ISO dates only: compared as real dates
    already = exists(
        select(Outbound.id).where(Outbound.step_id == step.id, Outbound.contact_id == Contact.id)
    )
    previous = None
    if occurrence is not None:
        previous = session.scalar(
            select(Occurrence.scheduled_at)
            .where(
                Occurrence.step_id == step.id,
                Occurrence.scheduled_at < occurrence.scheduled_at,
                Occurrence.status == OccurrenceStatus.PLANNED,
            )
            .order_by(Occurrence.scheduled_at.desc())
            .limit(1)
        )
    # The first firing (at launch) catches up every date already past; a later one takes the dates
    # since the previous planned firing: its own day, or every day missed while the scheduler was
    # down (those firings collapsed into this one). Each contact still gets the step once.
    if previous is None:
        return and_(value <= target, ~already)
    since = offset_target_date(previous.astimezone(tz).date(), days).isoformat()
    return and_(value > since, value <= target, ~already)


def _columns(uses_contact: bool, whatsapp: bool = False) -> list[Any]:
    # Consent as a flag: parsing a million timestamps only to test them for NULL costs a second.
    # Typed as an integer (0/1 on SQLite, a bool on PostgreSQL; only its truth is read): SQLite's
    # Boolean result processor alone cost 1.2 s of CPU per million rows.
    consented = type_coerce(has_consent(), Integer).label("consented")
    # The phone stays sealed: it is decrypted only for a contact without a timezone.
    columns = [Contact.id, sealed(Contact.phone), Contact.language, Contact.timezone, consented]
    if whatsapp:
        columns += [Contact.whatsapp_consent_at.is_not(None).label("whatsapp_ok"), Contact.preferred_channel]
    if uses_contact:
        columns += [Contact.name, Contact.department, Contact.municipality_code, Contact.custom]
    return columns


def _contact_dict(row: Any) -> dict[str, Any]:
    name = row.name or ""
    return {
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "language": row.language,
        "department": row.department,
        "municipality_code": row.municipality_code,
        # An empty custom value is a missing one: `| default(...)` then writes its default.
        **{key: value for key, value in (row.custom or {}).items() if value not in (None, "")},
    }


def plan_rows(
    session: Session,
    plan: StepPlan,
    *,
    occurrence: Occurrence | None,
    fires_at: datetime,
    now: datetime,
    chunk: int = CHUNK,
    before_read: Callable[[], None] = lambda: None,
) -> Iterator[list[dict[str, Any]]]:
    """Yields chunks of Outbound row dicts for an occurrence (queued and skipped rows). Reads only.

    The contacts of the next chunk are read before a chunk is yielded, so the caller may write that
    chunk (on the same session, from another thread) while the next one is computed: `before_read`
    is called before each of these reads, to wait for that write.

    Skip reasons, in the order checked: no_consent, no_whatsapp_consent, frequency_cap
    (campaign/blasts/frequency.py), no_translation, missing_field, render_error,
    whatsapp_template_missing. Send times come from a `pacing.Slotter`: the campaign's pace,
    inside its window (cut to the deployment's day), under the deployment's hourly cap.
    """
    step, campaign, rules = plan.step, plan.campaign, plan.rules
    condition = audience_condition(session, step, now=now, occurrence=occurrence)
    base = max(fires_at, now)
    start, end, weekend = clamp_window(
        campaign.window_start, campaign.window_end, campaign.weekend_window, rules
    )
    grid = Grid.for_cap(rules.blast_max_per_hour)
    slots = Slotter(
        _pacing_start(session, campaign, base, cap=rules.blast_max_per_hour),
        per_hour=campaign.max_per_hour,
        grid=grid,
        load=load_by_bucket(session, now=now, grid=grid),
        tz=campaign.timezone,
        start=start,
        end=end,
        weekend=weekend or None,
    )
    caps = FrequencyCap.for_campaign(
        session, at=base, rules=rules, campaign_discreet_days=campaign.discreet_min_days
    )
    expires = fires_at + timedelta(hours=step.deadline_hours) if step.deadline_hours else None
    occurrence_id = occurrence.id if occurrence is not None else None
    tz_cache: dict[str, str] = {}
    campaign_tz, queued = campaign.timezone, OutboundStatus.QUEUED.value
    blank: dict[str, Any] = {
        "occurrence_id": occurrence_id,
        "campaign_id": campaign.id,
        "step_id": step.id,
        "contact_id": None,
        "message_id": None,
        "language": None,
        "variant": None,
        "template_version": None,
        "body": "",
        "encoding": None,
        "segments": 0,
        "priority": 0,
        "status": OutboundStatus.SKIPPED.value,
        "skip_reason": None,
        "send_after": now,
        "expires_at": expires,
        "attempts": 0,
        "created_at": now,
        "channel": SMS,
        "content_sid": None,
        "content_variables": None,
        "media_recording_id": None,
        "fallback_channel": None,
    }
    columns = _columns(plan.uses_contact, plan.whatsapp)
    fallback = SMS if SMS in plan.channels and plan.whatsapp else None

    def read(after_id: int) -> tuple[list[Any], set[int]]:
        before_read()
        rows = list(
            session.execute(
                select(*columns).where(condition, Contact.id > after_id).order_by(Contact.id).limit(chunk)
            ).all()
        )
        if not rows:
            return rows, set()
        caps.load(session, after_id=after_id, upto_id=rows[-1].id)
        window = whatsapp_window_open(session, [r.id for r in rows], now) if plan.whatsapp else set()
        return rows, window

    rows, window = read(0)
    while rows:
        out: list[dict[str, Any]] = []
        for row in rows:
            variant, message_id, language = plan.message_for(row.id, row.language)
            record = dict(blank, contact_id=row.id, message_id=message_id, language=language, variant=variant)
            if not row.consented:
                record["skip_reason"] = NO_CONSENT
                out.append(record)
                continue
            channel = SMS
            if plan.whatsapp:
                chosen = channel_for(
                    plan.channels, opted_in_whatsapp=row.whatsapp_ok, preferred=row.preferred_channel
                )
                if chosen is None:
                    record["channel"] = WHATSAPP
                    record["skip_reason"] = NO_WHATSAPP_CONSENT
                    out.append(record)
                    continue
                channel = chosen
            record["channel"] = channel
            if caps.over(row.id, message_id):
                record["skip_reason"] = FREQUENCY_CAP
                out.append(record)
                continue
            if language is None:
                record["skip_reason"] = NO_TRANSLATION
                record["language"] = row.language
                out.append(record)
                continue
            text = plan.text_for(message_id, language, _contact_dict(row) if plan.uses_contact else None)
            record["template_version"] = plan.templates[(message_id, language)].version
            if isinstance(text, str):
                record["skip_reason"] = text
                out.append(record)
                continue
            record["body"], record["encoding"], record["segments"] = text
            if channel == WHATSAPP:
                template = plan.template_for(
                    message_id, language, _contact_dict(row) if plan.uses_contact else None
                )
                if template is None and row.id not in window:
                    # Outside the 24 h window only a template may go: SMS instead, or nothing.
                    if fallback is None:
                        record["skip_reason"] = TEMPLATE_MISSING
                        out.append(record)
                        continue
                    record["channel"] = SMS
                else:
                    record["content_sid"], record["content_variables"] = template or (None, None)
                    record["fallback_channel"] = fallback
                    record["media_recording_id"] = plan.recordings.get(language)
            record["status"] = queued
            tz = row.timezone or phone_zone(decrypt(row.phone), campaign_tz, tz_cache)
            record["send_after"] = slots.next(None if tz == campaign_tz else tz)
            out.append(record)
        # The caps of this chunk are used up: read the next chunk (and its caps) before yielding.
        rows, window = read(rows[-1].id)
        yield out


def _pacing_start(session: Session, campaign: Campaign, base: datetime, *, cap: int) -> datetime:
    """Pacing is per campaign: continue one interval after the latest send time already queued."""
    latest = session.scalar(
        select(Outbound.send_after)
        .where(Outbound.campaign_id == campaign.id, Outbound.status == OutboundStatus.QUEUED)
        .order_by(Outbound.send_after.desc())
        .limit(1)
    )
    if latest is None or not campaign.max_per_hour:
        return base
    pace = min(campaign.max_per_hour, cap)
    return max(base, latest + timedelta(seconds=3600 / pace))


# --- planning one occurrence ------------------------------------------------------------------


@dataclass
class PlanResult:
    """What planning one occurrence did."""

    occurrence_id: int
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    discarded: str | None = None
    first_send_after: datetime | None = None

    @property
    def planned(self) -> int:
        return self.queued + sum(self.skipped.values())


COLUMNS = (
    "occurrence_id",
    "campaign_id",
    "step_id",
    "contact_id",
    "message_id",
    "language",
    "variant",
    "template_version",
    "body",
    "encoding",
    "segments",
    "priority",
    "status",
    "skip_reason",
    "send_after",
    "expires_at",
    "attempts",
    "created_at",
    "channel",
    "content_sid",
    "content_variables",
    "media_recording_id",
    "fallback_channel",
)


class _Sealer:
    """Encrypts bodies for the bulk insert, once per distinct text: a blast sends one text to many
    people, and the same ciphertext stored for the same text reveals nothing more than that (a
    GCM nonce is never reused for a different text)."""

    def __init__(self, ring: Keyring) -> None:
        self._ring = ring
        self._done: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        found = self._done.get(text)
        if found is None:
            found = self._ring.encrypt(text)
            if len(self._done) < 10_000:
                self._done[text] = found
        return found


class _Writer:
    """Inserts each chunk of rows in a worker thread while the next chunk is computed: the
    database works on one chunk while Python renders the next (measured: see the commit).

    One chunk at a time, on the caller's session: `wait()` (also called by `plan_rows` before each
    of its reads) returns once the last chunk is written and raises its error, so the session is
    never used by two threads at once. Leaving the block waits for the last write and raises its
    error; the caller's unit of work then rolls back (a planned step is all-or-nothing).
    """

    def __init__(self, session: Session, *, replanning: bool) -> None:
        self._session = session
        # Invariant 1: a re-planned occurrence (it has rows already) inserts with conflicts skipped.
        # A first planning has nothing to conflict with (the claim pending -> planning lets one
        # planner in): PostgreSQL then COPYs straight into outbound, with no stage table and no
        # INSERT ... SELECT (measured: see the commit); the unique constraint still refuses a
        # duplicate, which fails the whole occurrence.
        self._conflicts = ("occurrence_id", "contact_id") if replanning else None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-insert")
        self._pending: Future[None] | None = None
        # An in-memory SQLite connection belongs to its thread (one database per thread): write inline.
        url = session.get_bind().engine.url
        self._inline = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        bulk_insert(
            self._session,
            "outbound",
            COLUMNS,
            rows,
            datetime_columns=("send_after", "expires_at", "created_at"),
            skip_conflicts_on=self._conflicts,
        )

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        self.wait()
        if self._inline:
            self._write(rows)
        else:
            self._pending = self._pool.submit(self._write, rows)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self.wait()
            elif self._pending is not None:  # already failing: let the write end, keep the first error
                wait_futures([self._pending])
        finally:
            self._pool.shutdown(wait=True)


def plan_occurrence(
    session: Session, occurrence_id: int, *, now: datetime, settings: Settings, chunk: int = CHUNK
) -> PlanResult:
    """Plans one occurrence: claims it (pending -> planning), inserts its rows, marks it planned.

    Flushes; the caller commits (one unit of work per occurrence). An occurrence created under an
    older step version, or of a campaign not scheduled/running, is discarded (status skipped).
    """
    result = PlanResult(occurrence_id)
    claimed = rowcount(
        session.execute(
            update(Occurrence)
            .where(Occurrence.id == occurrence_id, Occurrence.status == OccurrenceStatus.PENDING)
            .values(status=OccurrenceStatus.PLANNING)
        )
    )
    if not claimed:
        result.discarded = "already planned"
        return result
    occurrence = session.get(Occurrence, occurrence_id, populate_existing=True)
    assert occurrence is not None
    step = occurrence.step
    if occurrence.step_version != step.version or not is_messaging(step.channel):
        occurrence.status = OccurrenceStatus.SKIPPED
        result.discarded = f"planned for step version {occurrence.step_version}, step is at {step.version}"
        session.flush()
        return result
    refresh_statistics(session, "contacts")  # a fresh import must not make every chunk re-scan it
    plan = load_step_plan(session, step, settings=settings)
    seal = _Sealer(keyring())
    as_tuple, queued = itemgetter(*COLUMNS), OutboundStatus.QUEUED.value
    replanning = bool(session.scalar(select(exists().where(Outbound.occurrence_id == occurrence_id))))
    with _Writer(session, replanning=replanning) as writer:
        for rows in plan_rows(
            session,
            plan,
            occurrence=occurrence,
            fires_at=occurrence.fires_at,
            now=now,
            chunk=chunk,
            before_read=writer.wait,
        ):
            first = result.first_send_after
            for row in rows:  # bulk_insert bypasses the column type: bodies are encrypted here
                row["body"] = seal(row["body"])
                if row["content_variables"] is not None:  # may hold personal data (a name)
                    row["content_variables"] = seal(row["content_variables"])
                if row["status"] == queued:
                    result.queued += 1
                    if first is None or row["send_after"] < first:
                        first = row["send_after"]
                else:
                    result.skipped[row["skip_reason"]] += 1
            result.first_send_after = first
            writer.insert(list(map(as_tuple, rows)))
    occurrence.status = OccurrenceStatus.PLANNED
    occurrence.planned_at = now
    occurrence.recipients = result.queued
    session.flush()
    return result


def campaign_of(session: Session, occurrence_id: int) -> Campaign | None:
    """The campaign an occurrence belongs to."""
    return session.scalar(select(Campaign).join(Step).join(Occurrence).where(Occurrence.id == occurrence_id))
