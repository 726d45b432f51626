"""The message library for managers, translators and reviewers: every message's text per language
and translation status (`campaign messages coverage`), a message's lint results (`campaign
messages lint`), each translation's version history, the edit form with the live SMS counter
(`campaign messages segments`), and approval.

A translation saved here goes through `messages.translations.import_rows`, the function behind
`campaign messages import-translations`: the same checks (variables, stale Spanish source, radio
script lines), a new version in needs_review. Approval is `messages.library.approve`, as
`campaign messages approve`, by the reviewer logged in. Both are audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, build_registry
from campaign.hotline.models import Role, User
from campaign.web.auth import APPROVE_ROLES, LIBRARY_ROLES, TRANSLATE_ROLES, require_role
from campaign.web.routes_inbox import flash, pop_flash
from campaign.web.templating import templates
from messages.words import level_word, status_word

router = APIRouter()
reader = require_role(*LIBRARY_ROLES)
translator = require_role(*TRANSLATE_ROLES)
reviewer = require_role(*APPROVE_ROLES)

MAX_BODY = 5000
def _registry(request: Request) -> LanguageRegistry:
    return build_registry(request.app.state.web.settings.extra_languages)


def _can(user: User, roles: tuple[Role, ...]) -> bool:
    return Role(user.role) in roles


def _message(session: Any, slug: str):
    from messages.library import get_message

    if len(slug) > 80:
        raise NotFound(_("There is no message %(slug)s.", slug=repr(slug[:80] + "…")))
    try:
        return get_message(session, slug)
    except NotFound:
        raise NotFound(_("There is no message %(slug)s.", slug=repr(slug))) from None


def _language(registry: LanguageRegistry, code: str, field: str = "lang") -> str:
    if code not in registry:
        raise NotFound(_("There is no language %(code)s.", code=repr(code[:40])))
    return code


@router.get("/messages")
def library_page(
    request: Request, *, lang: str = "", status: str = "", user: Annotated[User, Depends(reader)]
) -> Response:
    """Every message with its Spanish text and its status in each language; filter by a language
    and a status (e.g. Mam needing review)."""
    from messages.coverage import STATES, coverage
    from messages.library import list_messages, source_body
    from messages.packload import message_to_spec
    from messages.translations import exchange_text

    registry = _registry(request)
    languages = registry.codes()
    if lang and lang not in registry:
        raise Invalid("lang", _("unknown language %(code)s", code=repr(lang[:40])))
    if status and status not in STATES:
        raise Invalid("status", _("one of: %(states)s", states=", ".join(status_word(s) for s in STATES)))
    with unit_of_work(request.app.state.web.engine) as session:
        messages = list_messages(session)
        result = coverage([message_to_spec(m) for m in messages], languages)
        rows = []
        for message in sorted(messages, key=lambda m: (m.topic, m.slug)):
            cells = result.cells[message.slug]
            if lang and status and cells[lang] != status:
                continue
            if status and not lang and status not in cells.values():
                continue
            stale = result.reasons.get(message.slug, {})
            texts = {
                t.language: exchange_text(message, t) or ""
                for t in message.translations
                if t.language != "es"
            }
            rows.append(
                {
                    "message": message,
                    "spanish": source_body(message) or "",
                    "cells": cells,
                    "stale": stale,
                    "texts": texts,
                }
            )
    context = {
        "user": user,
        "rows": rows,
        "totals": result.totals,
        "count": len(result.cells),
        "languages": [(code, registry.get(code).native_name) for code in languages],
        "lang": lang,
        "status": status,
        "states": STATES,
        "status_word": status_word,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "messages.html", context)


def _lint(request: Request, message: Any) -> list[Any]:
    """`campaign messages lint`'s findings for this one message (warnings and errors first)."""
    from campaign.core.languages import default_registry
    from messages.keywords import load_catalogue
    from messages.lint import lint_specs
    from messages.packload import message_to_spec

    settings = request.app.state.web.settings
    findings = lint_specs(
        [message_to_spec(message)],
        catalogue=load_catalogue(None),
        defaults=settings.hotline_defaults,
        sensitive_words=settings.sensitive_words,
        registry=default_registry(),
    )
    return [f for f in findings if f.slug == message.slug and f.code != "system-missing"]


def _sms_policy(registry: LanguageRegistry, code: str) -> str:
    return registry.get(code).encoding_policy if code in registry else "exact"


@router.get("/messages/{slug}")
def message_page(request: Request, *, slug: str, user: Annotated[User, Depends(reader)]) -> Response:
    from messages.encoding import apply_policy
    from messages.library import is_stale, source_body
    from messages.rendering import render, sample_context
    from messages.translations import exchange_text, is_radio

    registry = _registry(request)
    settings = request.app.state.web.settings
    with unit_of_work(request.app.state.web.engine) as session:
        message = _message(session, slug)
        source = source_body(message)
        by_language = {t.language: t for t in message.translations}
        entries = []
        for code in registry.codes():
            t = by_language.get(code)
            entry: dict[str, Any] = {"code": code, "name": registry.get(code).native_name, "translation": t}
            if t is not None:
                entry["text"] = exchange_text(message, t)
                entry["stale"] = is_stale(t, source)
                if not is_radio(message):  # as `campaign messages show` measures it: with sample values
                    try:
                        sample = render(t.body, sample_context(settings.hotline_defaults, message.variables))
                        entry["sms"] = apply_policy(sample, _sms_policy(registry, code))
                    except Invalid as exc:
                        entry["sms_error"] = exc.reason
            entries.append(entry)
        findings = _lint(request, message)
        from messages.whatsapp import CATEGORIES, category_word, content_template, variables_text

        for entry in entries:
            t = entry["translation"]
            if t is not None and t.content_sid:
                entry["content_variables"] = variables_text(t.content_variables)
                entry["template_used"] = content_template(t, t.language) is not None
        context = {
            "user": user,
            "message": message,
            "entries": entries,
            "categories": [(c, category_word(c)) for c in CATEGORIES],
            "category_word": category_word,
            "whatsapp": "whatsapp" in (message.channels or [])
            or any(t.content_sid for t in message.translations),
            "findings": findings,
            "radio": is_radio(message),
            "status_word": status_word,
            "level_word": level_word,
            "can_translate": _can(user, TRANSLATE_ROLES),
            "can_approve": _can(user, APPROVE_ROLES),
            "flashes": pop_flash(request),
        }
        return templates.TemplateResponse(request, "message.html", context)


def _edit_context(request: Request, user: User, session: Any, slug: str, lang: str) -> dict[str, Any]:
    from messages.library import is_stale, source_body, source_hash
    from messages.translations import exchange_text, is_radio

    registry = _registry(request)
    message = _message(session, slug)
    _language(registry, lang)
    translation = next((t for t in message.translations if t.language == lang), None)
    spanish = next((t for t in message.translations if t.language == "es"), None)
    return {
        "user": user,
        "message": message,
        "lang": lang,
        "language_name": registry.get(lang).native_name,
        "translation": translation,
        "text": exchange_text(message, translation) or "",
        "spanish": exchange_text(message, spanish) or "",
        "fingerprint": source_hash(source_body(message)) or "",
        "stale": translation is not None and is_stale(translation, source_body(message)),
        "radio": is_radio(message),
        "policy": _sms_policy(registry, lang),
        "revisions": list(reversed(translation.revisions)) if translation is not None else [],
        "status_word": status_word,
        "can_translate": _can(user, TRANSLATE_ROLES) and lang != "es",
        "can_approve": _can(user, APPROVE_ROLES),
        "flashes": pop_flash(request),
        "error": None,
    }


@router.get("/messages/{slug}/{lang}")
def translation_page(
    request: Request, *, slug: str, lang: str, user: Annotated[User, Depends(reader)]
) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        context = _edit_context(request, user, session, slug, lang)
        return templates.TemplateResponse(request, "translation.html", context)


@router.post("/messages/{slug}/{lang}")
def save_translation(
    request: Request,
    *,
    slug: str,
    lang: str,
    body: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    fingerprint: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(translator)],
) -> Response:
    """A new version of one translation, submitted for review (import-translations' function)."""
    from messages.library import SOURCE_LANGUAGE
    from messages.translations import ImportRow, import_rows

    registry = _registry(request)
    state = request.app.state.web
    with unit_of_work(state.engine) as session:
        _message(session, slug)
        _language(registry, lang)
    if lang == SOURCE_LANGUAGE:
        raise Invalid("lang", _("the Spanish source is changed in the content pack, not here"))
    if not body.strip():
        raise Invalid("body", _("write the translation"))
    if len(body) > MAX_BODY or len(notes) > MAX_BODY:
        raise Invalid("body", _("at most %(n)d characters", n=MAX_BODY))
    row = ImportRow(
        number=1,
        slug=slug,
        language=lang,
        source=None,
        fingerprint=fingerprint.strip() or None,
        target=body.strip(),
        status="needs_review",
        notes=notes.strip() or None,
    )
    with state.write() as session:
        report = import_rows(session, [row], now=utcnow(), by=user.username)
        if report.refused:
            reason = report.refused[0].split(": ", 1)[-1]
            with unit_of_work(state.engine) as reading:
                context = _edit_context(request, user, reading, slug, lang)
            context.update(text=body, error=_("Translation not saved: %(reason)s", reason=reason))
            return templates.TemplateResponse(request, "translation.html", context, status_code=422)
        if not report.added and not report.updated:
            flash(request, _("Nothing changed: the translation is the same."))
            return RedirectResponse(f"/messages/{slug}/{lang}", status_code=303)
        from messages.library import get_translation

        saved = get_translation(session, slug, lang)
        record_audit(
            session,
            actor=user.username,
            action="translation.submit",
            now=utcnow(),
            user_id=user.id,
            target_type="translation",
            target_id=saved.id,
            detail={"message": slug, "language": lang, "version": saved.version},
        )
    flash(request, _("Translation saved as a new version: it now needs review."))
    return RedirectResponse(f"/messages/{slug}/{lang}", status_code=303)


@router.post("/messages/{slug}/{lang}/approve")
def approve_translation(
    request: Request,
    *,
    slug: str,
    lang: str,
    version: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(reviewer)],
) -> Response:
    """Approves the translation by the logged-in reviewer (`campaign messages approve --by`).
    The form carries the version the reviewer read: a newer one saved meanwhile is refused."""
    from messages.library import approve, get_translation

    registry = _registry(request)
    state = request.app.state.web
    with state.write() as session:
        _message(session, slug)
        _language(registry, lang)
        try:
            current = get_translation(session, slug, lang)
        except NotFound:
            raise NotFound(_("This message has no %(code)s translation to approve.", code=lang)) from None
        if version.strip() and version.strip() != str(current.version):
            raise Invalid(
                "version",
                _(
                    "version %(seen)s was not the latest (%(now)d): read the new version, then approve",
                    seen=version.strip()[:20],
                    now=current.version,
                ),
            )
        translation = approve(session, slug, lang, by=user.username, now=utcnow())
        record_audit(
            session,
            actor=user.username,
            action="translation.approve",
            now=utcnow(),
            user_id=user.id,
            target_type="translation",
            target_id=translation.id,
            detail={"message": slug, "language": lang, "version": translation.version},
        )
    flash(request, _("Translation approved."))
    return RedirectResponse(f"/messages/{slug}/{lang}", status_code=303)


@router.post("/messages/{slug}/{lang}/whatsapp")
def save_whatsapp_template(
    request: Request,
    *,
    slug: str,
    lang: str,
    content_sid: Annotated[str, Form()] = "",
    variables: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(reviewer)],
) -> Response:
    """Sets (or, left empty, removes) the WhatsApp template of one language: its Twilio Content
    SID and the placeholders mapped to the message's variables (`messages.library.set_content_template`,
    as `campaign messages whatsapp`). Reviewers and managers only; audited. A bad SID or mapping
    changes nothing and names the field."""
    from messages.library import get_translation, set_content_template
    from messages.whatsapp import parse_variables_text

    registry = _registry(request)
    state = request.app.state.web
    if len(content_sid) > 200 or len(variables) > 2000 or len(category) > 40:
        raise Invalid("content_sid", _("at most %(n)d characters", n=200))
    with state.write() as session:
        message = _message(session, slug)
        _language(registry, lang)
        try:
            translation = get_translation(session, slug, lang)
        except NotFound:
            raise NotFound(_("This message has no %(code)s translation.", code=lang)) from None
        mapping = parse_variables_text(variables, message.variables or []) if content_sid.strip() else None
        changed = set_content_template(session, translation, content_sid=content_sid, variables=mapping,
                                       category=category.strip() or None, now=utcnow())
        if changed:
            record_audit(
                session,
                actor=user.username,
                action="translation.whatsapp_template",
                now=utcnow(),
                user_id=user.id,
                target_type="translation",
                target_id=translation.id,
                detail={"message": slug, "language": lang, "content_sid": translation.content_sid,
                        "category": message.whatsapp_category},
            )
    flash(request, _("WhatsApp template saved.") if changed
          else _("Nothing changed: the template is the same."))
    return RedirectResponse(f"/messages/{slug}#lang-{lang}", status_code=303)
