"""Words for the hotline's stored codes (statuses, priorities, outcomes, referrals, intents), per locale.

Stored values stay English codes (`urgent`, `referred`, `pnc`); people see them through `label`,
in the locale of the request or command. An unknown code is shown as it is.
"""

from __future__ import annotations

from campaign.core.i18n import N_, LazyString

LABELS: dict[str, LazyString] = {
    # case status
    "new": N_("new"),
    "open": N_("open"),
    "resolved": N_("resolved"),
    # priority
    "urgent": N_("urgent"),
    "high": N_("high"),
    "normal": N_("normal"),
    # why a case was opened (the intent of the message that opened it)
    "help": N_("asked for help"),
    "reply": N_("reply"),
    "follow_up": N_("follow-up"),
    "opt_out": N_("opt-out"),
    "opt_in": N_("opt-in"),
    # outcome
    "referred": N_("referred"),
    "information": N_("information given"),
    "no_answer": N_("no answer"),
    "wrong_number": N_("wrong number"),
    "not_a_case": N_("not a case"),
    # referred to
    "mp": N_("Public Prosecutor (MP)"),
    "pnc": N_("National Civil Police (PNC)"),
    "pgn": N_("Attorney General (PGN)"),
    "sosep": N_("SOSEP"),
    "shelter": N_("shelter"),
    "health_centre": N_("health centre"),
    "other": N_("other"),
    # staff roles
    "admin": N_("administrator"),
    "manager": N_("manager"),
    "producer": N_("radio producer"),
    "hotline": N_("hotline staff"),
    "translator": N_("translator"),
    "reviewer": N_("translation reviewer"),
    # a message's delivery status (the thread)
    "queued": N_("message queued"),
    "sending": N_("message being sent"),
    "sent": N_("message sent"),
    "delivered": N_("message delivered"),
    "undelivered": N_("message not delivered"),
    "failed": N_("message failed"),
    "skipped": N_("message skipped"),
    "cancelled": N_("message cancelled"),
    "expired": N_("message expired"),
    "unknown": N_("message outcome unknown"),
    # contact status
    "active": N_("active"),
    "opted_out": N_("opted out"),
    "blocked": N_("blocked"),
}


def label(code: object) -> str:
    """The word for a stored code in the current locale (the code itself when unknown)."""
    if code is None:
        return ""
    text = str(code)
    found = LABELS.get(text)
    return str(found) if found is not None else text
