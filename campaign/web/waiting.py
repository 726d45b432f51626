"""How long a case has waited, for people: "12 min ago", and whether it is past its service target.

Pure functions; `now` is aware UTC. Targets are minutes per priority (Settings.service_targets,
default urgent 5, high 30); a priority without a target is never late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from campaign.core.i18n import _, ngettext


def elapsed(since: datetime | None, now: datetime) -> str:
    """"just now", "12 min ago", "3 h 05 min ago", "2 days ago" in the current locale."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return _("just now")
    if minutes < 60:
        return _("%(n)d min ago", n=minutes)
    if minutes < 24 * 60:
        return _("%(h)d h %(m)02d min ago", h=minutes // 60, m=minutes % 60)
    return ngettext("%(num)d day ago", "%(num)d days ago", minutes // (24 * 60))


def is_late(priority: str, since: datetime | None, now: datetime, targets: Mapping[str, int]) -> bool:
    """True when a case of `priority` waiting since `since` is past its service target."""
    target = targets.get(str(priority))
    if since is None or target is None:
        return False
    return (now - since).total_seconds() > target * 60
