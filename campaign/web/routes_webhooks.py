"""POST /twilio/inbound and /twilio/status: form-encoded provider callbacks, protected by signature."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from campaign.db import utcnow
from campaign.webhooks import INBOUND_PATH, STATUS_PATH, handle_inbound, handle_status, public_url

router = APIRouter()
SIGNATURE_HEADER = "x-twilio-signature"


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post(INBOUND_PATH)
async def twilio_inbound(request: Request) -> Response:
    """One inbound SMS: 200 with TwiML, 403 on a bad signature, 400 on a malformed form."""
    params = await _form(request)
    state = request.app.state.web
    url = public_url(state.settings, INBOUND_PATH, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)

    def work() -> str:
        with state.write() as session:
            return handle_inbound(
                session, url=url, params=params, signature=signature, settings=state.settings, now=utcnow()
            )

    xml = await state.run_write(work)
    return Response(xml, media_type="application/xml")


@router.post(STATUS_PATH)
async def twilio_status(request: Request) -> Response:
    """One delivery-status callback: 204 when accepted (applied or ignored), 403/400 otherwise."""
    params = await _form(request)
    state = request.app.state.web
    url = public_url(state.settings, STATUS_PATH, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)

    def work() -> bool:
        with state.write() as session:
            return handle_status(
                session, url=url, params=params, signature=signature, settings=state.settings, now=utcnow()
            )

    await state.run_write(work)
    return Response(status_code=204)
