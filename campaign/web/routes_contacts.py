"""The contacts page for managers: upload a file (routes_contacts_import.py), look a contact up by
phone with their history, reveal the number, opt a contact out or in by hand.

The phone number is sent in a POST form, never in a URL; every lookup, view, reveal and consent
change is audited (campaign.core.audit) without the number. The number is shown masked like the
inbox shows it unless revealed. Opt-out and opt-in are the CLI's `audiences.consent` functions
(`campaign audiences opt-out/opt-in`), with channel `web` and the manager's reason as source.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from audiences import consent
from audiences.models import Contact
from audiences.reasons import reason_label
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import AppError, Invalid, NotFound, redact_numbers
from campaign.core.i18n import _
from campaign.hotline import inbox
from campaign.hotline.history import contact_history
from campaign.hotline.models import User
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.routes_contacts_import import UPLOAD_KEY, uploads
from campaign.web.routes_inbox import NO_STORE, flash, pop_flash
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
ContactId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_PHONE = 40
MAX_REASON = 200


def _pending(request: Request, user: User) -> Any:
    """The user's upload in progress, if any (to go back to its mapping step)."""
    root = uploads.upload_root(request.app.state.web.settings.export_dir)
    uploads.sweep(root, now=utcnow())  # expired uploads go even when nobody uploads again
    try:
        return uploads.open_upload(root, request.session.get(UPLOAD_KEY), user_id=user.id, now=utcnow())
    except Invalid:
        return None


def _page(request: Request, user: User, *, error: str | None = None, status: int = 200) -> Response:
    context = {"user": user, "error": error, "upload": _pending(request, user), "flashes": pop_flash(request)}
    return templates.TemplateResponse(request, "contacts.html", context, status_code=status, headers=NO_STORE)


@router.get("/contacts")
def contacts_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    return _page(request, user)


def _audit(session: Any, user: User, action: str, contact_id: int | None, **detail: Any) -> None:
    record_audit(
        session,
        actor=user.username,
        user_id=user.id,
        action=action,
        now=utcnow(),
        target_type="contact" if contact_id else None,
        target_id=contact_id,
        detail=detail,
    )


def _place(contact: Contact) -> dict[str, str]:
    """The contact's department and municipality as people read them (names, with the codes)."""
    from audiences.geography import department_name, municipalities

    out = {"department": "", "municipality": ""}
    if contact.department:
        try:
            out["department"] = f"{department_name(contact.department)} ({contact.department})"
        except Invalid:  # a code the geography does not know: shown as stored
            out["department"] = contact.department
    if contact.municipality_code:
        names = {m.code: m.name for m in municipalities()}
        out["municipality"] = names.get(contact.municipality_code, contact.municipality_code)
    return out


def _contact_page(request: Request, user: User, contact_id: int, *, revealed: str | None = None) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(_("no contact %(id)s", id=contact_id))
        context = {
            "user": user,
            "contact": contact,
            "masked": inbox.mask_phone(contact.phone),
            "place": _place(contact),
            "revealed": revealed,
            "thread": inbox.thread(session, contact_id=contact.id),
            "history": contact_history(session, contact_id=contact.id),
            "flashes": pop_flash(request),
        }
        return templates.TemplateResponse(request, "contacts_contact.html", context, headers=NO_STORE)


@router.post("/contacts/lookup")
def lookup(
    request: Request,
    *,
    phone: Annotated[str, Form(max_length=MAX_PHONE)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Finds the contact with this number (written any usual way); audited, found or not."""
    if not phone.strip():
        return _page(request, user, error=_("phone: write the number to look up"), status=422)
    with request.app.state.web.write() as session:
        try:
            contact = consent.find_contact(session, phone)
        except AppError as exc:
            _audit(session, user, "contact.lookup", None, found=False)
            found: int | None = None
            error = exc
        else:
            _audit(session, user, "contact.lookup", contact.id, found=True)
            found = contact.id
    if found is None:
        missing = isinstance(error, NotFound)
        message = _("phone: no contact with that number") if missing else reason_label(str(error))
        return _page(request, user, error=message, status=error.http_status)
    return _contact_page(request, user, found)


@router.get("/contacts/{contact_id}")
def contact_page(
    request: Request, *, contact_id: ContactId, user: Annotated[User, Depends(manager)]
) -> Response:
    """A contact's page (reached after a lookup or a change); audited as a view."""
    with request.app.state.web.write() as session:
        if session.get(Contact, contact_id) is None:
            raise NotFound(_("no contact %(id)s", id=contact_id))
        _audit(session, user, "contact.view", contact_id)
    return _contact_page(request, user, contact_id)


@router.post("/contacts/{contact_id}/reveal")
def reveal(request: Request, *, contact_id: ContactId, user: Annotated[User, Depends(manager)]) -> Response:
    """The page with the whole number shown; audited."""
    with request.app.state.web.write() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(_("no contact %(id)s", id=contact_id))
        _audit(session, user, "contact.reveal", contact_id)
        phone = contact.phone
    return _contact_page(request, user, contact_id, revealed=phone)


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise Invalid("reason", _("say why (where the request came from)"))
    return text[:MAX_REASON]


@router.post("/contacts/{contact_id}/opt-out")
def opt_out(
    request: Request,
    *,
    contact_id: ContactId,
    reason: Annotated[str, Form(max_length=1000)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Opts the contact out (`campaign audiences opt-out --source REASON`), audited."""
    why = _reason(reason)
    with request.app.state.web.write() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(_("no contact %(id)s", id=contact_id))
        consent.opt_out(session, contact, channel="web", source=why, now=utcnow())
        _audit(session, user, "contact.opt_out", contact_id, reason=redact_numbers(why))
    flash(request, _("Contact opted out: they receive no more campaign messages."))
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)


@router.post("/contacts/{contact_id}/opt-in")
def opt_in(
    request: Request,
    *,
    contact_id: ContactId,
    reason: Annotated[str, Form(max_length=1000)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Opts the contact back in (`campaign audiences opt-in --source REASON`), audited. A blocked
    contact stays blocked (422, nothing changed)."""
    why = _reason(reason)
    with request.app.state.web.write() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(_("no contact %(id)s", id=contact_id))
        consent.opt_in(session, contact, channel="web", source=why[:80], now=utcnow())
        _audit(session, user, "contact.opt_in", contact_id, reason=redact_numbers(why))
    flash(request, _("Contact opted in: consent recorded."))
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)
