"""`campaign demo` (`make demo`): the whole loop on a fresh SQLite database with synthetic data.

Fresh SQLite database (the configured one, ./var/campaign.db by default, so `campaign serve`
shows the demo's data; refused if it holds anything the demo did not make) -> schema -> shipped
content pack -> synthetic audience (generated,
then imported like any CSV) -> sample radio stations -> the sample campaign (created, previewed,
launched on a simulated clock just before its first step) -> an accelerated clock ticking the
scheduler through a few simulated days on the sandbox provider (delivery callbacks and replies
included) -> the campaign report, checked against the database, and where to go next.
All people and phone numbers are synthetic.
"""

from __future__ import annotations

import secrets
import time as time_module
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, literal_column, or_, select
from sqlalchemy.engine import make_url

import campaign.schema  # noqa: F401 - every entry point loads the whole model registry
from campaign.blasts.labels import campaign_label
from campaign.core.config import Settings, get_settings
from campaign.core.console import in_words, info, progress
from campaign.core.crypto import activate, ensure_key_file
from campaign.core.db import make_engine, unit_of_work
from campaign.core.errors import Invalid
from campaign.core.i18n import _

SAMPLES = Path(__file__).with_name("samples")
CAMPAIGN_FILE = SAMPLES / "frontera-segura.yaml"
STATIONS_FILE = SAMPLES / "stations.yaml"
# Monday 11 January 2027, 09:55 in Guatemala (UTC-6): five minutes before the first step.
DEMO_START = datetime(2027, 1, 11, 15, 55, tzinfo=UTC)


@dataclass
class DemoResult:
    """What the demo produced, for the caller (and its test)."""

    database_url: str
    campaign: str
    contacts: int
    ticks: int
    seconds: float
    totals: dict[str, Any]
    database_counts: dict[str, int]


DEMO_MARK = "demo.created"
DEMO_DONE = "demo.finished"  # its detail holds the fingerprint of what the demo made
# Not work a person would miss: the audit trail itself, and the web app's login and lock bookkeeping.
IGNORED_TABLES = frozenset({"audit_events", "alembic_version"})
IGNORED_COLUMNS = frozenset({"last_login_at", "locked_by_id", "locked_at"})
# How people call the rows of each table, when naming what a rebuild would delete.
TABLE_WORDS = {
    "users": "users",
    "import_batches": "imports",
    "contacts": "contacts",
    "campaigns": "campaigns",
    "steps": "campaign steps",
    "cases": "hotline cases",
    "case_notes": "case notes",
    "inbound": "inbound messages",
    "translations": "translations",
    "translation_revisions": "translation revisions",
    "messages": "messages",
    "airings": "radio airings or airing logs",
    "stations": "radio stations",
    "radio_calibrations": "radio calibrations",
    "segments": "segments",
    "canned_replies": "quick replies",
}


def _fresh_database(url: str, *, force: bool) -> Path:
    """Deletes the SQLite file at `url` so the demo starts clean; returns its folder.

    Refuses (Invalid naming CAMPAIGN_DATABASE_URL) a non-SQLite database, and, unless `force`, a
    SQLite file holding anything but exactly what an earlier demo made (or only the empty schema):
    the demo must never wipe real work. The refusal names what it found.
    """
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        raise Invalid(
            "CAMPAIGN_DATABASE_URL",
            _(
                "the demo builds a fresh SQLite file and deletes what is there: point it at a SQLite file "
                "(now %(url)s)",
                url=parsed.render_as_string(hide_password=True),
            ),
        )
    path = Path(database)
    if path.exists() and not force:
        found = work_since_demo(url)
        if found:
            raise Invalid(
                "CAMPAIGN_DATABASE_URL",
                _(
                    "%(path)s holds work the demo did not make (%(found)s); refusing to delete it "
                    "(use another CAMPAIGN_DATABASE_URL, or --force to delete it anyway)",
                    path=path,
                    found="; ".join(found),
                ),
            )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


def fingerprint(connection: Any) -> dict[str, list[Any]]:
    """Per table: [row count, digest of its rows], leaving out the audit trail and the volatile
    login and lock columns, so a later run can tell whether anything was added or changed since."""
    import hashlib
    import json

    from campaign.schema import metadata

    present = set(inspect(connection).get_table_names())
    result: dict[str, list[Any]] = {}
    for table in metadata().sorted_tables:
        if table.name in IGNORED_TABLES or table.name not in present:
            continue
        # Raw stored values (no column types): encrypted columns are compared as stored, without keys.
        quote = connection.dialect.identifier_preparer.quote
        columns: list[Any] = [
            literal_column(quote(c.name)) for c in table.columns if c.name not in IGNORED_COLUMNS
        ]
        order: list[Any] = [literal_column(quote(c.name)) for c in table.primary_key.columns]
        digest = hashlib.sha256()
        rows = 0
        for row in connection.execute(select(*columns).select_from(table).order_by(*order)):
            digest.update(json.dumps(list(row), default=str, sort_keys=True).encode())
            rows += 1
        result[table.name] = [rows, digest.hexdigest()[:16]]
    return result


def work_since_demo(url: str) -> list[str]:
    """What the SQLite database at `url` holds beyond what a demo made (empty list: nothing).

    A database with the schema only (`campaign init`: built-in segments) holds nothing. One a
    demo finished records that demo's fingerprint: each table whose rows differ from it is named,
    with the rows added, removed or changed. Any other database: each non-empty table is named.
    """
    from audiences.models import Segment
    from campaign.core.audit import AuditEvent

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            if not tables - {"alembic_version"}:
                return []
            recorded: dict[str, list[Any]] = {}
            if "audit_events" in tables:
                detail = connection.scalar(
                    select(AuditEvent.detail)
                    .where(AuditEvent.action == DEMO_DONE)
                    .order_by(AuditEvent.id.desc())
                    .limit(1)
                )
                recorded = dict((detail or {}).get("fingerprint") or {})
            current = fingerprint(connection)
            if not recorded and "segments" in current:  # `campaign init` adds the built-in segments
                own = connection.scalar(select(func.count()).select_from(Segment).where(~Segment.builtin))
                current["segments"] = [int(own or 0), ""]
    finally:
        engine.dispose()
    return _differences(recorded, current)


def _differences(recorded: dict[str, list[Any]], current: dict[str, list[Any]]) -> list[str]:
    found = []
    for table, (rows, digest) in current.items():
        before_rows, before_digest = recorded.get(table, [0, digest])
        if rows == before_rows and digest == before_digest:
            continue
        words = TABLE_WORDS.get(table, table.replace("_", " "))
        if not recorded:
            found.append(f"{rows} {words}")
        elif rows > before_rows:
            found.append(f"{rows - before_rows} {words} added")
        elif rows < before_rows:
            found.append(f"{before_rows - rows} {words} removed")
        else:
            found.append(f"{words} changed")
    return found


def database_counts(session: Any, campaign_id: int) -> dict[str, int]:
    """Counts straight from the tables, to check the report against."""
    from campaign.blasts.models import Outbound, OutboundStatus
    from campaign.hotline.models import Inbound, Intent

    def outbound(*statuses: OutboundStatus, or_sent: bool = False) -> int:
        condition: ColumnElement[bool] = Outbound.status.in_(statuses)
        if or_sent:  # accepted by the provider, whatever happened next
            condition = or_(condition, Outbound.sent_at.is_not(None))
        query = select(func.count(Outbound.id)).where(Outbound.campaign_id == campaign_id, condition)
        return int(session.scalar(query) or 0)

    def inbound(*intents: Intent) -> int:
        query = (
            select(func.count(Inbound.id))
            .join(Outbound, Outbound.id == Inbound.outbound_id)
            .where(Outbound.campaign_id == campaign_id)
        )
        if intents:
            query = query.where(Inbound.intent.in_(intents))
        return int(session.scalar(query) or 0)

    return {
        "sent": outbound(
            OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, or_sent=True
        ),
        "delivered": outbound(OutboundStatus.DELIVERED),
        "replies": inbound(),
        "opt_outs": inbound(Intent.OPT_OUT),
    }


def run_demo(
    *,
    settings: Settings | None = None,
    contacts: int = 5000,
    days: int = 3,
    tick_minutes: int = 10,
    seed: int = 1,
    force: bool = False,
    quiet: bool = False,
) -> DemoResult:
    """Runs the demo on the configured SQLite database (rebuilt from scratch) and prints what happens.

    The demo is its own deployment: the sandbox provider, and no real-time rate limit to wait
    for (the simulated clock runs days in seconds). Raises Invalid when the configured database
    is not a SQLite file the demo may delete (see _fresh_database). Returns the figures.
    """
    started = time_module.perf_counter()
    say = (lambda _m: None) if quiet else info
    base = settings or get_settings()
    var = _fresh_database(base.database_url, force=force)
    settings = base.model_copy(
        update={
            "provider": "sandbox",
            "sandbox_seed": seed,
            "rate_per_second": max(base.rate_per_second, 2000),
            # The simulated clock ticks every `tick_minutes`: rows due since the last tick are on
            # time, not a backlog to re-pace.
            "tick_seconds": tick_minutes * 60.0,
        }
    )
    ensure_key_file(settings)
    activate(settings)
    engine = make_engine(settings.database_url)
    try:
        return _run(
            engine,
            settings,
            contacts=contacts,
            days=days,
            tick_minutes=tick_minutes,
            seed=seed,
            say=say,
            started=started,
            var=var,
        )
    finally:
        engine.dispose()


def _run(
    engine: Any,
    settings: Settings,
    *,
    contacts: int,
    days: int,
    tick_minutes: int,
    seed: int,
    say: Any,
    started: float,
    var: Path,
) -> DemoResult:
    from audiences.importer import import_file
    from audiences.sample import write_csv
    from audiences.segments import ensure_builtin_segments
    from campaign.blasts.campaigns import create_from_file
    from campaign.blasts.lifecycle import launch
    from campaign.blasts.preview import preview_campaign
    from campaign.blasts.reports import campaign_report, print_report
    from campaign.blasts.rules import rules_from
    from campaign.blasts.scheduling import tick
    from campaign.core.audit import record_audit
    from campaign.providers import get_provider
    from campaign.schema import upgrade
    from messages.packload import load_pack

    now = DEMO_START
    upgrade(engine)
    with unit_of_work(engine) as session:
        record_audit(session, actor="demo", action=DEMO_MARK, now=now, detail={"synthetic": True})
    say("[bold]1.[/bold] " + _("Fresh database %(url)s: schema created.", url=url_display(settings)))
    with unit_of_work(engine) as session:
        pack = load_pack(session, now=now)
        ensure_builtin_segments(session)
    say("[bold]2.[/bold] " + _("Content pack loaded: %(summary)s.", summary=_pack_summary(pack)))
    csv = write_csv(var / "demo-audience.csv", contacts, seed)
    with unit_of_work(engine) as session:
        summary = import_file(session, csv, partial=True, now=now)
    say(
        "[bold]3.[/bold] "
        + _(
            "Synthetic audience (no real people): %(imported)d contacts imported, "
            "%(rejected)d bad rows rejected with reasons.",
            imported=summary.imported,
            rejected=summary.rejected,
        )
    )
    stations = _load_stations(engine)
    say("[bold]4.[/bold] " + _("%(num)d sample radio stations loaded (synthetic examples).", num=stations))
    provider = get_provider(settings)
    recorded = _demo_voice_note(engine, settings, var=var, now=now)
    opted = _demo_whatsapp_alta(engine, provider, settings, now=now - timedelta(minutes=5))
    say(
        "   "
        + _(
            "WhatsApp: a SYNTHETIC voice note (a tone, no person's voice, %(seconds).0f s) recorded for "
            "spot %(spot)s; %(people)d synthetic contacts wrote ALTA to the WhatsApp number (their opt-in, "
            "and 24 h in which the voice note may go).",
            seconds=recorded, spot=DEMO_SPOT, people=opted,
        )
    )
    with unit_of_work(engine) as session:
        campaign, _created = create_from_file(
            session, CAMPAIGN_FILE, now=now, default_timezone=settings.timezone, rules=rules_from(settings)
        )
        slug, campaign_id = campaign.slug, campaign.id
        preview = preview_campaign(session, slug, now=now, settings=settings)
    for step in preview["steps"]:
        if step["channel"] in ("sms", "whatsapp"):
            cost = f"{step['estimated_cost']:.2f}"
            say(
                "   "
                + _(
                    "preview %(step)s: %(recipients)s recipients (%(languages)s), skipped %(skipped)s, "
                    "%(segments)s segments ~%(cost)s %(currency)s",
                    step=step["step"],
                    recipients=step["recipients"],
                    languages=in_words(step["languages"]),
                    skipped=in_words(step["skipped"], label=campaign_label),
                    segments=step["total_segments"],
                    cost=cost,
                    currency=preview["currency"],
                )
            )
    with unit_of_work(engine) as session:
        launch(session, slug, now=now, settings=settings, actor="demo")
    with unit_of_work(engine) as session:
        from campaign.radio.models import Airing

        airings = session.scalar(select(func.count(Airing.id)))
    launched = f"{now:%Y-%m-%d %H:%M}"
    say(
        "[bold]5.[/bold] "
        + _(
            "Campaign %(slug)s launched at %(time)s UTC (simulated clock); "
            "%(airings)d radio airings planned.",
            slug=slug,
            time=launched,
            airings=airings,
        )
    )
    end = now + timedelta(days=days)
    ticks = 0
    total_ticks = int((end - now) / timedelta(minutes=tick_minutes)) + 1
    with progress(_("Simulated days"), total=total_ticks) as advance:
        while now <= end:
            result = tick(engine, provider, now=now, settings=settings)
            ticks += 1
            clock = f"{now:%Y-%m-%d %H:%M}"
            advance(1, description=_("Simulated clock %(time)s UTC", time=clock))
            if result.queued:
                say(
                    "   "
                    + _(
                        "%(time)s UTC: planned %(queued)d messages (%(skipped)d skipped)",
                        time=clock,
                        queued=result.queued,
                        skipped=result.skipped,
                    )
                )
            now += timedelta(minutes=tick_minutes)
    for _round in range(3):  # let the last simulated callbacks and replies arrive
        tick(engine, provider, now=now, settings=settings)
        now += timedelta(minutes=tick_minutes)
        ticks += 1
    say(
        "[bold]6.[/bold] "
        + _(
            "%(ticks)d scheduler ticks over %(days)d simulated days on the sandbox provider.",
            ticks=ticks,
            days=days,
        )
    )
    with unit_of_work(engine) as session:
        report = campaign_report(session, slug)
        counts = database_counts(session, campaign_id)
    if say is info:
        print_report(report)
    _check(report.totals, counts)
    admin = _demo_admin(engine, now=now)
    _record_fingerprint(engine, now=now)
    elapsed = time_module.perf_counter() - started
    took = f"{elapsed:.0f}"
    say(
        "[bold]7.[/bold] "
        + _(
            "Report matches the database (sent %(sent)s, delivered %(delivered)s, replies %(replies)s, "
            "opt-outs %(opt_outs)s). Demo took %(seconds)s s.",
            sent=counts["sent"],
            delivered=counts["delivered"],
            replies=counts["replies"],
            opt_outs=counts["opt_outs"],
            seconds=took,
        )
    )
    serve, address = "[bold].venv/bin/campaign serve[/bold]", f"http://{settings.host}:{settings.port}"
    login = f"[bold]demo-admin[/bold] / [bold]{admin}[/bold]"
    say(
        _(
            "Open the web app: %(serve)s, then %(address)s and log in as %(login)s (synthetic, demo only).",
            serve=serve,
            address=address,
            login=login,
        )
    )
    export = f"[bold].venv/bin/campaign radio export {slug} --format pdf --out {settings.export_dir}[/bold]"
    say(_("Radio scripts: %(command)s (also docx, txt, csv, xlsx).", command=export))
    return DemoResult(settings.database_url, slug, summary.imported, ticks, elapsed, report.totals, counts)


DEMO_SPOT = "spot-coyotes"  # the sample campaign's WhatsApp step sends its recording (campaign/samples)
DEMO_WHATSAPP_PEOPLE = 40


def _demo_voice_note(engine: Any, settings: Settings, *, var: Path, now: datetime) -> float:
    """Records a SYNTHETIC tone (no person's voice) as the Spanish recording of DEMO_SPOT, stored
    and transcoded like an upload; returns its seconds."""
    from campaign.radio.audio import write_synthetic_tone
    from campaign.radio.recordings import add_recording

    tone = write_synthetic_tone(var / "demo-voice-note.wav", seconds=6.0)
    with unit_of_work(engine) as session:
        result = add_recording(session, spot=DEMO_SPOT, language="es", source=tone, root=settings.media_dir,
                               now=now, uploaded_by="demo")
        return float(result.recording.seconds)


def _demo_whatsapp_alta(engine: Any, provider: Any, settings: Settings, *, now: datetime) -> int:
    """A few synthetic young people of the border segment write ALTA to the WhatsApp number, through
    the signed webhook as Twilio would post it: their WhatsApp opt-in, and their 24 h window open."""
    from audiences.models import Contact
    from audiences.segments import segment_condition
    from campaign.hotline import webhooks

    with unit_of_work(engine) as session:
        condition = segment_condition(session, "border_youth", today=now.date())
        phones = list(
            session.scalars(
                select(Contact.phone).where(condition, Contact.language == "es").order_by(Contact.id)
                .limit(DEMO_WHATSAPP_PEOPLE)
            )
        )
    url = webhooks.public_url(settings, webhooks.INBOUND_PATH)
    for i, phone in enumerate(phones):
        params = {
            "MessageSid": "SM" + f"{i + 1:032x}", "AccountSid": "AC" + "0" * 32, "From": f"whatsapp:{phone}",
            "To": "whatsapp:+15005550006", "Body": "ALTA", "NumMedia": "0",
        }
        with unit_of_work(engine) as session:
            webhooks.handle_inbound(session, url=url, params=params, signature=provider.sign(url, params),
                                    settings=settings, now=now)
    return len(phones)


def url_display(settings: Settings) -> str:
    return settings.masked()["database_url"]


def _pack_summary(pack: Any) -> str:
    return _(
        "%(pack)s: %(added)d messages added, %(changed)d changed",
        pack=pack.pack,
        added=len(pack.added),
        changed=len(pack.changed),
    )


def _load_stations(engine: Any) -> int:
    from campaign.radio.stations import load_stations

    with unit_of_work(engine) as session:
        summary = load_stations(session, STATIONS_FILE)
    return int(summary.created + summary.updated)


def _demo_admin(engine: Any, *, now: datetime) -> str:
    from campaign.hotline.users import create_user

    password = "demo-" + secrets.token_urlsafe(9)
    with unit_of_work(engine) as session:
        create_user(session, username="demo-admin", password=password, role="admin", now=now, actor="demo")
    return password


def _record_fingerprint(engine: Any, *, now: datetime) -> None:
    """Records what the demo made, so the next demo may rebuild this file only if nothing changed."""
    from campaign.core.audit import record_audit

    with engine.connect() as connection:
        made = fingerprint(connection)
    with unit_of_work(engine) as session:
        record_audit(session, actor="demo", action=DEMO_DONE, now=now, detail={"fingerprint": made})


def _check(totals: dict[str, Any], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        if totals.get(key) != value:
            raise AssertionError(f"report {key} = {totals.get(key)} but the database says {value}")
