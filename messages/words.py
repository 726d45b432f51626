"""Words for the message library's codes (translation statuses, lint levels), per locale.

Stored values and `--json` keep the English codes (`needs_review`, `warning`); people read them
through these functions, in the web (campaign/web/routes_messages.py) and the CLI alike.
"""

from __future__ import annotations

from campaign.core.i18n import N_, LazyString

STATUS_WORDS: dict[str, LazyString] = {  # a translation's status (messages.coverage.STATES)
    "approved": N_("approved"),
    "needs_review": N_("needs review"),
    "draft": N_("draft"),
    "missing": N_("missing"),
}
LEVEL_WORDS: dict[str, LazyString] = {"error": N_("error"), "warning": N_("warning"), "info": N_("note")}


def status_word(state: str) -> str:
    """A translation status in the current locale (the code itself when unknown)."""
    word = STATUS_WORDS.get(state)
    return str(word) if word is not None else state


def level_word(level: str) -> str:
    """A lint finding's level in the current locale (the code itself when unknown)."""
    word = LEVEL_WORDS.get(level)
    return str(word) if word is not None else level
