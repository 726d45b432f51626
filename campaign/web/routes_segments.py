"""The segments page for managers: the list (built-ins marked, read-only), a builder over the
segment language with a live count and the count by department, save, edit, remove.

Counting is `audiences.segments.count(..., by="department")`, the figures of `campaign audiences
count QUERY --by department`; saving, editing and removing are `add_segment`, `edit_segment` and
`remove_segment` (which refuse a built-in one and one a campaign still uses), each audited. A bad
query is answered with the parser's reason and its column, shown under the query with a marker.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, RedirectResponse, Response

from audiences import segments
from audiences.geography import department_name
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.hotline.models import User
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.routes_inbox import NO_STORE, flash, pop_flash
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
Slug = Annotated[str, PathParam(max_length=80)]
MAX_QUERY = 5000


def one_line(query: str) -> str:
    """The query on one line (the parser's columns then point into what the page shows)."""
    return " ".join(query.splitlines()).strip()


def query_error(exc: AppError) -> dict[str, Any]:
    """{field, reason, column, message} of an error; `column` (1-based) when the parser gave one."""
    column = getattr(exc, "column", None)
    reason = getattr(exc, "detail", None) or getattr(exc, "reason", str(exc))
    return {"field": getattr(exc, "field", ""), "reason": reason, "column": column, "message": str(exc)}


def _department_label(code: str) -> str:
    if code == "(none)":
        return _("(none)")
    try:
        return department_name(code)
    except Invalid:  # a code the geography does not know: shown as stored
        return code


def reach(session: Any, query: str) -> dict[str, Any]:
    """The count and the count by department of a query or slug (Invalid for a bad one)."""
    result = segments.count(session, query, today=utcnow().date(), by="department")
    departments = [
        {"code": code, "name": _department_label(code), "count": n}
        for code, n in (result.breakdown or {}).items()
    ]
    return {"count": result.count, "departments": departments}


def _rows(session: Any) -> list[tuple[Any, int | str]]:
    segments.ensure_builtin_segments(session)
    today = utcnow().date()
    rows: list[tuple[Any, int | str]] = []
    for segment in segments.list_segments(session):
        try:
            count: int | str = segments.count(session, segment.slug, today=today).count
        except Invalid as exc:  # a saved segment that no longer parses: say so, keep the page
            count = _("error: %(reason)s", reason=exc.reason)
        rows.append((segment, count))
    return rows


def _page(
    request: Request,
    user: User,
    *,
    form: dict[str, str] | None = None,
    editing: str | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with request.app.state.web.write() as session:  # writes only the missing built-ins
        rows = _rows(session)
    context = {
        "user": user,
        "rows": rows,
        "form": form or {"slug": "", "name": "", "description": "", "query": ""},
        "editing": editing,
        "error": error,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "segments.html", context, status_code=status, headers=NO_STORE)


@router.get("/segments")
def segments_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    return _page(request, user)


@router.post("/segments/count")
def live_count(
    request: Request,
    *,
    query: Annotated[str, Form(max_length=MAX_QUERY)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """JSON for the builder: {count, departments} or, for a bad query, {error: {reason, column}}
    with 422. Reads only."""
    text = one_line(query)
    if not text:
        return JSONResponse({"count": None, "departments": []}, headers=NO_STORE)
    try:
        with unit_of_work(request.app.state.web.engine) as session:
            return JSONResponse(reach(session, text), headers=NO_STORE)
    except Invalid as exc:
        return JSONResponse({"error": query_error(exc)}, status_code=422, headers=NO_STORE)


def _fields(slug: str, name: str, description: str, query: str) -> dict[str, str]:
    return {
        "slug": slug.strip(),
        "name": " ".join(name.split()),
        "description": description.strip(),
        "query": one_line(query),
    }


def _audit(session: Any, user: User, action: str, segment: Any, **detail: Any) -> None:
    record_audit(
        session,
        actor=user.username,
        user_id=user.id,
        action=action,
        now=utcnow(),
        target_type="segment",
        target_id=segment.id if segment is not None else None,
        detail=detail,
    )


@router.post("/segments")
def add(
    request: Request,
    *,
    slug: Annotated[str, Form(max_length=80)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    query: Annotated[str, Form(max_length=MAX_QUERY)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Saves a new segment (`campaign audiences segment add`), audited."""
    form = _fields(slug, name, description, query)
    try:
        if not form["name"]:
            raise Invalid("name", _("give the segment a name"))
        with request.app.state.web.write() as session:
            segment = segments.add_segment(
                session,
                form["slug"],
                form["query"],
                name=form["name"],
                description=form["description"] or None,
                today=utcnow().date(),
            )
            _audit(session, user, "segment.add", segment, slug=segment.slug, query=segment.query)
    except Invalid as exc:
        return _page(request, user, form=form, error=query_error(exc), status=exc.http_status)
    flash(request, _("Segment %(slug)s saved.", slug=form["slug"]))
    return RedirectResponse("/segments", status_code=303)


@router.get("/segments/{slug}/edit")
def edit_page(request: Request, *, slug: Slug, user: Annotated[User, Depends(manager)]) -> Response:
    """The builder filled with a saved segment (built-ins cannot be edited: 422 saying so)."""
    with unit_of_work(request.app.state.web.engine) as session:
        segment = segments.get_segment(session, slug)
        if segment.builtin:
            raise Invalid("segment", _("%(slug)s is a built-in segment and cannot be changed", slug=slug))
        form = {
            "slug": segment.slug,
            "name": segment.name,
            "description": segment.description or "",
            "query": segment.query,
        }
    return _page(request, user, form=form, editing=slug)


@router.post("/segments/{slug}/edit")
def edit(
    request: Request,
    *,
    slug: Slug,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    query: Annotated[str, Form(max_length=MAX_QUERY)] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Changes a saved segment's query, name and description (`campaign audiences segment edit`)."""
    form = _fields(slug, name, description, query)
    try:
        if not form["name"]:
            raise Invalid("name", _("give the segment a name"))
        with request.app.state.web.write() as session:
            segment = segments.edit_segment(
                session,
                slug,
                today=utcnow().date(),
                query=form["query"],
                name=form["name"],
                description=form["description"],
            )
            _audit(session, user, "segment.edit", segment, slug=slug, query=segment.query)
    except Invalid as exc:
        return _page(request, user, form=form, editing=slug, error=query_error(exc), status=exc.http_status)
    flash(request, _("Segment %(slug)s saved.", slug=slug))
    return RedirectResponse("/segments", status_code=303)


@router.post("/segments/{slug}/remove")
def remove(request: Request, *, slug: Slug, user: Annotated[User, Depends(manager)]) -> Response:
    """Removes a saved segment (`campaign audiences segment remove`); refused for a built-in one
    or one a campaign still uses (the page says which, 422, nothing removed)."""
    try:
        with request.app.state.web.write() as session:
            segment = segments.get_segment(session, slug) if not segments.BUILTIN_BY_SLUG.get(slug) else None
            segment_id = segment.id if segment is not None else None
            segments.remove_segment(session, slug)
            record_audit(
                session,
                actor=user.username,
                user_id=user.id,
                action="segment.remove",
                now=utcnow(),
                target_type="segment",
                target_id=segment_id,
                detail={"slug": slug},
            )
    except Invalid as exc:
        return _page(request, user, error=query_error(exc), status=exc.http_status)
    flash(request, _("Segment %(slug)s removed.", slug=slug))
    return RedirectResponse("/segments", status_code=303)
