"""The last check at the provider's door: which contacts must not receive a message right now.

Eligibility is checked when rows are planned and again when a dispatcher claims them, but a STOP,
a cry for help or a case opened after the claim must still stop every message not yet handed to
the provider. A `MuteWatch` follows the contacts of the rows one dispatcher holds; `refresh()` asks
the database which of them are muted (one query per chunk of contacts, using the contact, case and
inbound indexes); dispatch refreshes it about every REFRESH_SECONDS and checks it right before each
provider call, so a mute committed at time t stops every send that starts after t + REFRESH_SECONDS.

Who is muted, and for what:
- opted out or blocked: nothing at all, blast or hotline reply (a reply written before the STOP
  never reaches the contact after it). One exception, issue 14's rule: a hotline reply written
  after the contact's latest opt-out (more than SKEW_MARGIN after it) goes out; the inbox only
  lets staff write one when it answers the contact's own message sent after the opt-out, within
  24 hours (campaign.hotline.inbox.reply_refusal);
- for blasts only: any other status than active, an open hotline case, or a help or urgent
  message received since the claim (minus SKEW_MARGIN for clocks of different machines). Hotline
  replies still reach a contact in a case: they are the case.

Pure state plus one query; `now`/`since` are aware UTC, the refresh clock is monotonic.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from audiences.models import ConsentEvent, ConsentKind, Contact, ContactStatus
from campaign.blasts.eligibility import has_open_case
from campaign.core.db import unit_of_work
from campaign.hotline.models import Inbound, Intent

REFRESH_SECONDS = 1.0
SKEW_MARGIN = timedelta(seconds=60)
CHUNK = 900  # contact ids per query (well under every driver's parameter limit)
STOPPED = (ContactStatus.OPTED_OUT, ContactStatus.BLOCKED)
ALARMING = (Intent.HELP, Intent.URGENT)
# skip_reason written for each cause (opted_out / blocked come from the contact status itself)
OPEN_CASE = "open_case"
REASON_BY_INTENT = {Intent.HELP: "help_message", Intent.URGENT: "urgent_message"}


@dataclass(frozen=True)
class Mute:
    """Why a contact is muted, and whether hotline replies are stopped too (opted out, blocked);
    `stopped_at`: the latest opt-out of an opted-out contact (None: every reply stays stopped)."""

    reason: str
    replies_too: bool
    stopped_at: datetime | None = None

    def applies(self, *, blast: bool, written_at: datetime | None = None) -> bool:
        """True when the mute stops this message: every blast; a hotline reply when replies are
        stopped, unless it was written after the opt-out (see the module docstring)."""
        if blast:
            return True
        if not self.replies_too:
            return False
        if self.stopped_at is None or written_at is None:
            return True
        return written_at <= self.stopped_at + SKEW_MARGIN


def find_mutes(session: Session, contact_ids: Iterable[int], *, since: datetime) -> dict[int, Mute]:
    """The muted contacts among `contact_ids`, with their reason (see the module docstring).

    `since`: help/urgent messages received at or after it mute blasts. Reads only.
    """
    ids = sorted(set(contact_ids))
    found: dict[int, Mute] = {}
    open_case = has_open_case()  # the same rule as planning's (eligibility.py)
    alarming = (
        select(Inbound.intent)
        .where(Inbound.contact_id == Contact.id, Inbound.received_at >= since, Inbound.intent.in_(ALARMING))
        .order_by(Inbound.intent.desc())  # urgent > help, alphabetically as well
        .limit(1)
        .scalar_subquery()
    )
    stopped_at = (
        select(func.max(ConsentEvent.at))
        .where(ConsentEvent.contact_id == Contact.id, ConsentEvent.kind == ConsentKind.OPT_OUT)
        .scalar_subquery()
    )
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        query = (
            select(
                Contact.id, Contact.status, open_case.label("open_case"), alarming.label("alarming"),
                stopped_at.label("stopped_at"),
            )
            .where(Contact.id.in_(chunk))
            .where(or_(Contact.status != ContactStatus.ACTIVE, open_case, alarming.is_not(None)))
        )
        for row in session.execute(query):
            found[row.id] = _mute(row.status, row.open_case, row.alarming, row.stopped_at)
    return found


def _mute(status: str, open_case: bool, alarming: str | None, stopped_at: datetime | None = None) -> Mute:
    if status == ContactStatus.OPTED_OUT:
        return Mute(str(status), replies_too=True, stopped_at=_aware(stopped_at))
    if status in STOPPED:
        return Mute(str(status), replies_too=True)
    if status != ContactStatus.ACTIVE:
        return Mute(str(status), replies_too=False)
    if alarming is not None:
        return Mute(REASON_BY_INTENT[Intent(alarming)], replies_too=False)
    assert open_case
    return Mute(OPEN_CASE, replies_too=False)


def _aware(value: datetime | None) -> datetime | None:
    """An aggregate's datetime (SQLite gives it naive, in UTC) as aware UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class MuteWatch:
    """The muted set of one dispatcher's contacts, refreshed about every `interval` seconds.

    Thread-safe. `watch()` adds the contacts of newly claimed rows (refresh them before sending);
    `check()` is called right before each provider call and refreshes first when the last refresh
    started more than `interval` ago, so its answer is never older than that.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        since: datetime,
        interval: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.since = since - SKEW_MARGIN
        self.interval = interval
        self._clock = clock
        self._contacts: Counter[int] = Counter()  # contact -> rows held
        self._muted: dict[int, Mute] = {}
        self._refreshed_at: float | None = None  # monotonic start of the last complete refresh
        self._state = threading.Lock()
        self._refreshing = threading.Lock()
        self.refreshes = 0

    def watch(self, contact_ids: Iterable[int]) -> None:
        """Follows the contacts of these rows (one id per row) from now on; fetches their mutes at
        once (one query)."""
        rows = list(contact_ids)
        new = set(rows)
        with self._state:  # followed first: any refresh that starts from now on includes them
            self._contacts.update(rows)
        started = self._clock()
        with unit_of_work(self.engine) as session:
            found = find_mutes(session, new, since=self.since)
        with self._state:
            for contact_id in new:
                self._muted.pop(contact_id, None)
            self._muted.update({k: v for k, v in found.items() if k in self._contacts})
            if self._refreshed_at is None:
                self._refreshed_at = started

    def forget(self, contact_ids: Iterable[int]) -> None:
        """One row of each of these contacts is settled: a contact is followed while it has rows
        held (keeps the refresh query small)."""
        with self._state:
            for contact_id in contact_ids:
                left = self._contacts[contact_id] - 1
                if left > 0:
                    self._contacts[contact_id] = left
                else:
                    self._contacts.pop(contact_id, None)
                    self._muted.pop(contact_id, None)

    def stale(self, older_than: float | None = None) -> bool:
        """True when the last refresh started more than `interval` (or `older_than`) seconds ago,
        or never ran."""
        at = self._refreshed_at
        limit = self.interval if older_than is None else older_than
        return at is None or self._clock() - at >= limit

    def refresh(self, older_than: float | None = None) -> None:
        """Re-reads the mutes of every followed contact when the last refresh is older than
        `interval` (or `older_than`: dispatch refreshes ahead, so senders never wait). One refresh
        at a time; a caller that waited for another caller's refresh returns at once if that one
        is fresh enough."""
        with self._refreshing:
            if not self.stale(older_than):
                return
            started = self._clock()
            with self._state:
                contacts = set(self._contacts)
            with unit_of_work(self.engine) as session:
                found = find_mutes(session, contacts, since=self.since)
            with self._state:
                # Contacts followed after the snapshot keep what watch() found for them (newer).
                kept = {k: v for k, v in self._muted.items() if k not in contacts}
                kept.update(found)
                self._muted = {k: v for k, v in kept.items() if k in self._contacts}
                self._refreshed_at = started
                self.refreshes += 1

    def check(self, contact_id: int, *, blast: bool, written_at: datetime | None = None) -> Mute | None:
        """The mute that stops a message to this contact now (refreshing first if stale), or None.
        `written_at`: when a hotline reply was written (see Mute.applies)."""
        if self.stale():
            self.refresh()
        return self.muted(contact_id, blast=blast, written_at=written_at)

    def muted(self, contact_id: int, *, blast: bool, written_at: datetime | None = None) -> Mute | None:
        """Like `check` without refreshing: for callers that keep the watch fresh themselves."""
        mute = self._muted.get(contact_id)
        return mute if mute is not None and mute.applies(blast=blast, written_at=written_at) else None
