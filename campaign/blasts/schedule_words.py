"""A step's schedule in words, for people: "cada lunes a las 10:00, 6 veces" instead of an RRULE.

Pure: takes the stored RRULE text (times local to the campaign's timezone, as written in the
campaign file) and the start date; returns one phrase in the current locale. A rule this module
cannot put into words (yearly, by week number, ...) is returned as written.
"""

from __future__ import annotations

from datetime import date, datetime

from campaign.core.i18n import N_, LazyString, _, ngettext

WEEKDAYS: dict[str, LazyString] = {
    "MO": N_("Monday"),
    "TU": N_("Tuesday"),
    "WE": N_("Wednesday"),
    "TH": N_("Thursday"),
    "FR": N_("Friday"),
    "SA": N_("Saturday"),
    "SU": N_("Sunday"),
}


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for piece in rule.strip().removeprefix("RRULE:").split(";"):
        key, _sep, value = piece.partition("=")
        if key:
            parts[key.strip().upper()] = value.strip().upper()
    return parts


def join_words(items: list[str]) -> str:
    """ "a, b and c" in the current locale ("a, b y c")."""
    if len(items) < 2:
        return "".join(items)
    return _("%(items)s and %(last)s", items=", ".join(items[:-1]), last=items[-1])


def _times(parts: dict[str, str], starts: datetime | date | None) -> list[str]:
    hours = [int(h) for h in parts.get("BYHOUR", "").split(",") if h.isdigit()]
    minutes = [int(m) for m in parts.get("BYMINUTE", "").split(",") if m.isdigit()]
    if not hours and isinstance(starts, datetime):
        hours = [starts.hour]
    if not minutes:
        minutes = [starts.minute if isinstance(starts, datetime) else 0]
    return [f"{h:02d}:{m:02d}" for h in sorted(hours) for m in sorted(minutes)]


def _every(parts: dict[str, str]) -> str | None:
    frequency = parts.get("FREQ", "")
    written = parts.get("INTERVAL", "1")
    interval = int(written) if written.isdigit() else 1
    days = [str(WEEKDAYS[d]) for d in parts.get("BYDAY", "").split(",") if d in WEEKDAYS]
    if frequency == "DAILY":
        return _("every day") if interval == 1 else _("every %(num)d days", num=interval)
    if frequency == "WEEKLY":
        if not days:
            return _("every week") if interval == 1 else _("every %(num)d weeks", num=interval)
        if interval == 1:
            return _("every %(days)s", days=join_words(days))
        return _("every %(num)d weeks on %(days)s", num=interval, days=join_words(days))
    if frequency == "MONTHLY":
        monthdays = [d for d in parts.get("BYMONTHDAY", "").split(",") if d]
        if monthdays:
            return _("every month on day %(days)s", days=join_words(monthdays))
        return _("every month") if interval == 1 else _("every %(num)d months", num=interval)
    return None


def describe_rrule(rule: str, starts: datetime | date | None = None) -> str:
    """The recurrence in words: "every Monday at 10:00, 6 times" ("cada lunes a las 10:00, 6 veces")."""
    parts = _parts(rule)
    every = _every(parts)
    if every is None or parts.keys() - {
        "FREQ",
        "INTERVAL",
        "BYDAY",
        "BYHOUR",
        "BYMINUTE",
        "COUNT",
        "UNTIL",
        "BYMONTHDAY",
        "BYSECOND",
        "WKST",
    }:
        return rule
    phrase = _("%(every)s at %(times)s", every=every, times=join_words(_times(parts, starts)))
    if parts.get("COUNT", "").isdigit():
        count = int(parts["COUNT"])
        phrase += ", " + ngettext("%(num)d time", "%(num)d times", count)
    elif parts.get("UNTIL"):
        until = parts["UNTIL"][:8]
        day = f"{until[:4]}-{until[4:6]}-{until[6:8]}"
        phrase += ", " + _("until %(day)s", day=day)
    if starts is not None:
        first = starts.date() if isinstance(starts, datetime) else starts
        phrase += ", " + _("from %(day)s", day=first.isoformat())
    return phrase


def describe_offset(offset: dict[str, object]) -> str:
    """An offset from a contact's date in words: "3 days after enrolled_on, at 09:00"."""
    days = int(str(offset.get("days", 0)))
    return ngettext(
        "%(num)d day after %(field)s, at %(time)s",
        "%(num)d days after %(field)s, at %(time)s",
        days,
        field=offset.get("field"),
        time=offset.get("time", "09:00"),
    )


def describe_schedule(
    *,
    at: datetime | None,
    rrule: str | None,
    starts: datetime | date | None,
    offset: dict[str, object] | None,
    timezone: str,
) -> str:
    """A step's schedule in words, times local to the campaign's `timezone` (an IANA name)."""
    from zoneinfo import ZoneInfo

    if at is not None:
        return _("once, on %(when)s", when=at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M"))
    if rrule:
        return describe_rrule(rrule, starts)
    if offset:
        return describe_offset(offset)
    return ""
