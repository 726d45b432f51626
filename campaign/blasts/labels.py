"""Words for the campaign area's stored codes (campaign statuses, skip reasons, tick counters).

Stored values and `--json` stay English codes (`running`, `no_consent`); people see them through
`campaign_label`, in the locale of the request or command (the web's `campaign_label` filter and
the CLI's tables use this one function). An unknown code falls back to the hotline's words
(`campaign.hotline.labels.label`: delivery statuses, contact statuses), else is shown as it is.
"""

from __future__ import annotations

from campaign.core.i18n import N_, LazyString
from campaign.hotline.labels import label

# Codes a manager reads on campaign pages: campaign statuses and reasons a message was skipped.
CAMPAIGN_WORDS: dict[str, LazyString] = {
    "draft": N_("draft"),
    "scheduled": N_("scheduled"),
    "running": N_("running"),
    "paused": N_("paused"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "no_translation": N_("no approved translation"),
    "no_consent": N_("no consent"),
    "render_error": N_("message could not be written"),
    "missing_field": N_("contact data missing"),
    "frequency_cap": N_("too many recent messages"),
    "no_whatsapp_consent": N_("no WhatsApp opt-in"),
    "whatsapp_template_missing": N_("no WhatsApp template (outside the 24 h window)"),
    "opted_out": N_("opted out"),
    "open_case": N_("open hotline case"),
    "deadline": N_("deadline passed"),
    "step_edited": N_("step edited"),
    "campaign_cancelled": N_("campaign cancelled"),
    # Channels, and why a WhatsApp step skipped someone or sent them SMS instead.
    "sms": N_("SMS"),
    "whatsapp": N_("WhatsApp"),
    "not_on_whatsapp": N_("not a WhatsApp user"),
    "prefers_sms": N_("prefers SMS"),
    "no_template": N_("no WhatsApp template in their language"),
}

# What one scheduler tick counts (`campaign tick`: TickResult.as_dict and its stages' keys).
TICK_WORDS: dict[str, LazyString] = {
    "occurrences_created": N_("firings created"),
    "occurrences_collapsed": N_("firings collapsed"),
    "occurrences_planned": N_("firings planned"),
    "queued": N_("queued"),
    "skipped": N_("skipped"),
    "expired": N_("expired"),
    "repaced": N_("repaced"),
    "airings_added": N_("airings added"),
    "follow_ups": N_("follow-ups"),
    "reconciled": N_("reconciled"),
    "dispatch": N_("dispatch"),
    "events": N_("events"),
    "media": N_("contacts' voice notes and images"),
    "fetched": N_("downloaded"),
    "retrying": N_("to retry"),
    "started": N_("started"),
    "completed": N_("completed"),
    "campaigns": N_("campaigns"),
    "rows": N_("rows"),
    "claimed": N_("claimed"),
    "sent": N_("sent"),
    "held": N_("held"),
    "retried": N_("retried"),
    "failed": N_("failed"),
    "unknown": N_("unknown"),
    "muted": N_("muted"),
    "batches": N_("batches"),
    "errors": N_("errors"),
    "checked": N_("checked"),
    "found": N_("found"),
    "requeued": N_("requeued"),
    "unresolved": N_("unresolved"),
}


def campaign_label(code: object) -> str:
    """A campaign status or skip reason in the current locale (else the hotline's words)."""
    word = CAMPAIGN_WORDS.get(str(code))
    return str(word) if word is not None else label(code)


def tick_label(key: object) -> str:
    """A counter of `campaign tick` in the current locale (unknown keys with spaces for `_`)."""
    word = TICK_WORDS.get(str(key))
    return str(word) if word is not None else str(key).replace("_", " ")
