"""The audit log's stored codes (actions, kinds of object) as people read them, per locale.

Stored actions stay English codes (`user.create`, `case.reply`); the audit page shows these words
and, for an action this table does not know yet, the code itself (marked as a code). The CSV export
keeps the codes, for scripts.
"""

from __future__ import annotations

from campaign.core.i18n import N_, LazyString

ACTIONS: dict[str, LazyString] = {
    "login": N_("logged in"),
    "login.failed": N_("failed login"),
    "login.locked": N_("login locked"),
    "audit.export": N_("audit log downloaded"),
    "user.create": N_("user added"),
    "user.enable": N_("user enabled"),
    "user.disable": N_("user disabled"),
    "user.role": N_("role changed"),
    "user.password": N_("password changed"),
    "translation.submit": N_("translation submitted for review"),
    "translation.approve": N_("translation approved"),
    "translation.whatsapp_template": N_("WhatsApp template set"),
    "case.assign": N_("case assigned"),
    "case.takeover": N_("case taken over"),
    "case.reply": N_("reply sent"),
    "case.note": N_("note added"),
    "case.resolve": N_("case resolved"),
    "case.reopen": N_("case reopened"),
    "case.follow_up": N_("follow-up set"),
    "case.opt_out_question": N_("opt-out question answered"),
    "cases.export": N_("cases downloaded"),
    "canned.save": N_("canned answer saved"),
    "canned.delete": N_("canned answer removed"),
    "contact.lookup": N_("contact looked up"),
    "contact.view": N_("contact viewed"),
    "contact.reveal": N_("phone number revealed"),
    "media.view": N_("voice note or image of a contact opened"),
    "contact.opt_out": N_("contact opted out by hand"),
    "contact.opt_in": N_("contact opted in by hand"),
    "contacts.import": N_("contacts imported"),
    "segment.add": N_("segment saved"),
    "segment.edit": N_("segment edited"),
    "segment.remove": N_("segment removed"),
    "campaign.created": N_("campaign created"),
    "campaign.edited": N_("campaign edited"),
    "campaign.imported": N_("campaign imported"),
    "campaign.scheduled": N_("campaign launched"),
    "campaign.running": N_("campaign started"),
    "campaign.paused": N_("campaign paused"),
    "campaign.cancelled": N_("campaign cancelled"),
    "campaign.completed": N_("campaign completed"),
    "radio_export": N_("radio schedule exported"),
    "privacy.erase": N_("person erased"),
    "demo.created": N_("demo data created"),
    "demo.finished": N_("demo data finished"),
}

TARGETS: dict[str, LazyString] = {
    "user": N_("user"),
    "case": N_("case"),
    "contact": N_("contact"),
    "campaign": N_("campaign"),
    "segment": N_("segment"),
    "translation": N_("translation"),
    "station": N_("station"),
    "inbound_media": N_("voice note or image"),
}


def action_word(code: str) -> str | None:
    """The words for an audit action in the current locale; None for an unknown code."""
    found = ACTIONS.get(code)
    return str(found) if found is not None else None


def target_word(code: str | None) -> str | None:
    """The words for the kind of object an event is about; None for an unknown or empty kind."""
    found = TARGETS.get(code or "")
    return str(found) if found is not None else None
