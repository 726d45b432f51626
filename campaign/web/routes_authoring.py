"""Manager pages that write campaigns: the campaign form (new, edit), YAML import and export,
the preview, and the launch with its confirmation.

The form is the campaign file (campaign/web/campaign_form.py): what it submits is turned into the
mapping the YAML loader gives `campaign create FILE`, validated by the same `parse_campaign` under
the same deployment rules and saved by the same `save_campaign`, so the web makes exactly what
the CLI makes and refuses with the same messages, each shown next to its input. The preview is
`campaign preview`'s function; the launch is `campaign launch`'s (`launch_problems`, `launch`).
Every change is audited (the launch by the lifecycle's own transition).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from campaign.blasts.campaign_export import campaign_document, campaign_yaml
from campaign.blasts.campaign_files import CHANNELS, ENCODINGS, parse_campaign
from campaign.blasts.campaigns import EDITABLE_STATUSES, get_campaign, save_campaign
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.core.yamlfiles import load_yaml
from campaign.hotline.models import User
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.campaign_form import (
    MAX_FORM_STEPS,
    SCHEDULE_KINDS,
    FormErrors,
    all_errors,
    channel_choices,
    document_to_form,
    field_of,
    form_to_document,
    step_count,
)
from campaign.web.routes_inbox import flash, pop_flash
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
MAX_UPLOAD = 512_000


def _choices(session: Session) -> dict[str, Any]:
    """What the form's selects offer: the library's messages and the saved segments."""
    from audiences.segments import list_segments
    from messages.library import list_messages

    return {
        "messages": [(m.slug, m.title or m.slug, m.channels or ["sms"]) for m in list_messages(session)],
        "segments": [(s.slug, s.name) for s in list_segments(session)],
    }


def _render_form(
    request: Request,
    user: User,
    *,
    values: dict[str, str],
    mode: str,
    slug: str | None = None,
    error: AppError | None = None,
    status_code: int = 200,
) -> Response:
    count = step_count(values)
    errors: dict[str, str] = {}
    top: list[str] = []
    found: list[AppError] = list(error.errors) if isinstance(error, FormErrors) else [error] if error else []
    for item in found:
        place = field_of(item.field, count) if isinstance(item, Invalid) else ""
        if place and place not in errors:
            errors[place] = str(item)
        top.append(str(item))
    with unit_of_work(request.app.state.web.engine) as session:
        choices = _choices(session)
    context = {
        "user": user,
        "values": values,
        "count": count,
        "max_steps": MAX_FORM_STEPS,
        "mode": mode,
        "slug": slug,
        "errors": errors,
        "top_errors": top,
        "channels": CHANNELS,
        "channel_choices": channel_choices,
        "encodings": ENCODINGS,
        "kinds": SCHEDULE_KINDS,
        "flashes": pop_flash(request),
        **choices,
    }
    return templates.TemplateResponse(request, "campaign_form.html", context, status_code=status_code)


def _form_values(form: Any) -> dict[str, str]:
    return {str(k): v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _save_document(
    request: Request, user: User, doc: Any, *, action: str, expect_new: bool, slug: str | None = None
) -> str:
    """Validates a campaign document like `campaign create FILE`, saves it and audits it; returns
    the slug. Raises Invalid (the field named), InvalidTransition (not editable)."""
    from campaign.blasts.rules import rules_from

    state = request.app.state.web
    settings = state.settings
    rules = rules_from(settings)

    def parse(document: Any) -> dict[str, Any]:
        return parse_campaign(document, default_timezone=settings.timezone, rules=rules)

    try:
        spec = parse(doc)
    except Invalid as first:
        if not isinstance(doc, dict):
            raise
        raise FormErrors(all_errors(doc, first, parse)) from None
    if slug is not None and spec["slug"] != slug:
        raise Invalid("slug", _("the slug of a saved campaign cannot change (it was %(slug)s)", slug=slug))
    now = utcnow()
    with state.write() as session:
        if expect_new:
            try:
                get_campaign(session, spec["slug"])
            except AppError:
                pass
            else:
                raise Invalid(
                    "slug", _("a campaign %(slug)s already exists: edit it instead", slug=spec["slug"])
                )
        campaign, created = save_campaign(session, spec, now=now)
        record_audit(
            session,
            actor=user.username,
            user_id=user.id,
            action=f"campaign.{action}",
            now=now,
            target_type="campaign",
            target_id=campaign.id,
            detail={"slug": campaign.slug, "created": created, "steps": [s.key for s in campaign.steps]},
        )
    return str(spec["slug"])


@router.get("/campaigns/new")
def new_campaign_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    values = {
        "timezone": request.app.state.web.settings.timezone,
        "send_window.start": "08:00",
        "send_window.end": "20:00",
        "step_count": "1",
        "steps[0].channel": "sms",
        "steps[0].schedule": "at",
        "steps[0].fallback": "contact, es",
    }
    return _render_form(request, user, values=values, mode="new")


async def _submitted(request: Request) -> dict[str, str]:
    return _form_values(await request.form())


def _more_steps(values: dict[str, str]) -> bool:
    """The form's "add a step" button: one more blank step, nothing saved."""
    if values.get("action") != "add_step":
        return False
    values["step_count"] = str(min(step_count(values) + 1, MAX_FORM_STEPS))
    return True


@router.post("/campaigns/new")
async def create_campaign(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    values = await _submitted(request)
    if _more_steps(values):
        return _render_form(request, user, values=values, mode="new")
    try:
        doc = form_to_document(values)
        slug = await request.app.state.web.run_write(
            lambda: _save_document(request, user, doc, action="created", expect_new=True)
        )
    except AppError as exc:
        return _render_form(request, user, values=values, mode="new", error=exc, status_code=exc.http_status)
    flash(request, _("Campaign %(slug)s saved as a draft. Check the preview before launching.", slug=slug))
    return RedirectResponse(f"/campaigns/{slug}/preview", status_code=303)


def _editable(request: Request, slug: str) -> tuple[dict[str, Any], str]:
    with unit_of_work(request.app.state.web.engine) as session:
        campaign = get_campaign(session, slug)
        return dict(campaign.spec or {}), str(campaign.status)


@router.get("/campaigns/{slug}/edit")
def edit_campaign_page(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    spec, status = _editable(request, slug)
    if status not in EDITABLE_STATUSES or not spec:
        flash(request, _("This campaign is %(status)s: it can no longer be edited.", status=status), "error")
        return RedirectResponse(f"/campaigns/{slug}", status_code=303)
    return _render_form(
        request, user, values=document_to_form(campaign_document(spec)), mode="edit", slug=slug
    )


@router.post("/campaigns/{slug}/edit")
async def edit_campaign(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    _spec, _status = _editable(request, slug)  # NotFound -> 404
    values = await _submitted(request)
    values["slug"] = slug
    if _more_steps(values):
        return _render_form(request, user, values=values, mode="edit", slug=slug)
    try:
        doc = form_to_document(values)
        await request.app.state.web.run_write(
            lambda: _save_document(request, user, doc, action="edited", expect_new=False, slug=slug)
        )
    except AppError as exc:
        return _render_form(
            request, user, values=values, mode="edit", slug=slug, error=exc, status_code=exc.http_status
        )
    flash(request, _("Campaign %(slug)s saved.", slug=slug))
    return RedirectResponse(f"/campaigns/{slug}/preview", status_code=303)


@router.get("/campaigns/{slug}/export.yaml")
def export_campaign(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        spec = dict(get_campaign(session, slug).spec or {})
    if not spec:
        raise Invalid("slug", _("campaign %(slug)s has no campaign file to export", slug=slug))
    headers = {"Content-Disposition": f'attachment; filename="{slug}.yaml"'}
    return Response(campaign_yaml(spec), media_type="application/yaml; charset=utf-8", headers=headers)


@router.get("/campaigns/import")
def import_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    context = {"user": user, "error": None, "flashes": pop_flash(request)}
    return templates.TemplateResponse(request, "campaign_import.html", context)


@router.post("/campaigns/import")
async def import_campaign(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """`campaign create FILE` from an uploaded file: creates the campaign, or updates it where the
    CLI would (draft, scheduled, paused)."""
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("file", _("choose a campaign file (YAML) to import"))
        raw = await upload.read(MAX_UPLOAD + 1)
        if len(raw) > MAX_UPLOAD:
            raise Invalid("file", _("the file is larger than %(max)d KB", max=MAX_UPLOAD // 1000))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(upload.filename, _("the campaign file is not UTF-8 text")) from None
        doc = load_yaml(text, source=upload.filename[:100])
        slug = await request.app.state.web.run_write(
            lambda: _save_document(request, user, doc, action="imported", expect_new=False)
        )
    except AppError as exc:
        context = {"user": user, "error": str(exc), "flashes": []}
        return templates.TemplateResponse(
            request, "campaign_import.html", context, status_code=exc.http_status
        )
    flash(request, _("Campaign %(slug)s imported.", slug=slug))
    return RedirectResponse(f"/campaigns/{slug}/preview", status_code=303)


@router.get("/campaigns/{slug}/preview")
def preview_page(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    """`campaign preview`: reach, languages, skips, segments, cost, first send times, warnings."""
    from campaign.blasts.preview import preview_campaign

    settings = request.app.state.web.settings
    with unit_of_work(request.app.state.web.engine) as session:
        data = preview_campaign(session, slug, now=utcnow(), settings=settings)
        campaign = get_campaign(session, slug)
        editable = campaign.status in EDITABLE_STATUSES and bool(campaign.spec)
    context = {
        "user": user,
        "data": data,
        "slug": slug,
        "editable": editable,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "campaign_preview.html", context)


def _launch_context(
    request: Request, user: User, slug: str, *, reasons: list[str] | None = None, allow_empty: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """The preview and the reasons a launch is refused; `only_empty` when the one thing in the way
    is a step reaching nobody (the page then offers `campaign launch --allow-empty`'s choice),
    `only_partial` when what remains is a WhatsApp-only step skipping contacts without a template
    in their language (the page offers `--allow-partial`'s choice)."""
    from campaign.blasts.lifecycle import launch_problems, whatsapp_gaps
    from campaign.blasts.preview import preview_campaign

    settings = request.app.state.web.settings
    now = utcnow()
    with unit_of_work(request.app.state.web.engine) as session:
        campaign = get_campaign(session, slug)
        lenient = launch_problems(session, campaign, settings=settings, now=now, allow_empty=True)
        strict = launch_problems(session, campaign, settings=settings, now=now, allow_empty=False)
        data = preview_campaign(session, slug, now=now, settings=settings)
    draft = data["status"] == "draft"
    gaps = whatsapp_gaps(data) if draft and not lenient else []
    problems = reasons if reasons is not None else (
        (lenient if allow_empty else strict) + ([] if allow_partial else gaps)
    )
    return {
        "user": user,
        "slug": slug,
        "data": data,
        "problems": problems,
        "only_empty": bool(strict) and not lenient,
        "only_partial": bool(gaps) and not allow_partial and (allow_empty or strict == lenient),
        "allow_empty": allow_empty,
        "allow_partial": allow_partial,
        "flashes": pop_flash(request),
    }


@router.get("/campaigns/{slug}/launch")
def launch_page(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    """The confirmation: the recipients and the cost, or every reason the launch is refused."""
    allow_empty = request.query_params.get("allow_empty") == "1"
    allow_partial = request.query_params.get("allow_partial") == "1"
    context = _launch_context(request, user, slug, allow_empty=allow_empty, allow_partial=allow_partial)
    return templates.TemplateResponse(request, "campaign_launch.html", context)


@router.post("/campaigns/{slug}/launch")
async def launch_campaign(
    request: Request, *, slug: str, user: Annotated[User, Depends(manager)]
) -> Response:
    """`campaign launch` once confirmed (the form echoes the slug); refused with its reasons."""
    from campaign.blasts.lifecycle import LaunchRefused, launch, launch_warnings

    form = await request.form()
    allow_empty = form.get("allow_empty") == "1"
    allow_partial = form.get("allow_partial") == "1"
    if form.get("confirm") != slug:
        return RedirectResponse(f"/campaigns/{slug}/launch", status_code=303)
    state = request.app.state.web

    def work() -> list[str]:
        with state.write() as session:
            campaign = launch(
                session,
                slug,
                now=utcnow(),
                settings=state.settings,
                actor=user.username,
                allow_empty=allow_empty,
                allow_partial=allow_partial,
            )
            return launch_warnings(session, campaign)

    try:
        warnings = await state.run_write(work)
    except LaunchRefused as exc:
        context = _launch_context(request, user, slug, reasons=exc.reasons, allow_empty=allow_empty,
                                  allow_partial=allow_partial)
        return templates.TemplateResponse(request, "campaign_launch.html", context, status_code=409)
    flash(request, _("Campaign launched: the scheduler plans and sends each step when it falls due."))
    for line in warnings:
        flash(request, line, "error")
    return RedirectResponse(f"/campaigns/{slug}", status_code=303)
