"""POST /twilio/inbound and /twilio/status: form-encoded provider callbacks, protected by signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from campaign.core.db import utcnow
from campaign.hotline.webhooks import INBOUND_PATH, STATUS_PATH, handle_inbound, handle_status, public_url

router = APIRouter()
SIGNATURE_HEADER = "x-twilio-signature"


async def _handle(request: Request, path: str, handler: Callable[..., Any]) -> Any:
    """Reads the form, then runs `handler` (which verifies the signature first) in one write."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    state = request.app.state.web
    url = public_url(state.settings, path, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)

    def work() -> Any:
        with state.write() as session:
            return handler(
                session, url=url, params=params, signature=signature, settings=state.settings, now=utcnow()
            )

    return await state.run_write(work)


@router.post(INBOUND_PATH)
async def twilio_inbound(request: Request) -> Response:
    """One inbound SMS: 200 with TwiML, 403 on a bad signature, 400 on a malformed form."""
    xml = await _handle(request, INBOUND_PATH, handle_inbound)
    return Response(xml, media_type="application/xml")


@router.post(STATUS_PATH)
async def twilio_status(request: Request) -> Response:
    """One delivery-status callback: 204 when accepted (applied or ignored), 403/400 otherwise."""
    await _handle(request, STATUS_PATH, handle_status)
    return Response(status_code=204)
