"""Status callbacks at scale: out of order, at the same time, through the app's group commit.

Invariant 5 (status only moves forward) must hold when the callbacks of one message arrive
together and are applied by different transactions; invariant 6 when a forged one is among them.
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from sqlalchemy import select

from audiences.models import Contact, ContactStatus
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.db import make_sessionmaker
from campaign.hotline.webhooks import StatusWebhook, apply_status
from campaign.web import create_app
from tests.campaign.web.helpers import NOW, settings, sign, status_url
from tests.factories import make_contact, make_outbound


def sending_rows(engine, n: int) -> list[int]:
    with make_sessionmaker(engine).begin() as session:
        rows = [
            make_outbound(session, status="sending", provider_sid=f"SMst{i:030d}" if i % 2 else None)
            for i in range(n)
        ]
        return [row.id for row in rows]


def callbacks(ids: list[int], rng: random.Random) -> tuple[list[tuple[str, dict[str, str]]], dict[int, str]]:
    """queued, sent and delivered/undelivered for every message, shuffled; and each final status."""
    posts, final = [], {}
    for n, outbound_id in enumerate(ids):
        last = "undelivered" if n % 3 == 0 else "delivered"
        final[outbound_id] = last
        sid = f"SMst{n:030d}"
        for status in ("queued", "sent", last):
            params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            posts.append((status_url(outbound_id), params))
    posts.append((status_url(), {"MessageSid": "SMnobodyknows", "MessageStatus": "delivered"}))
    rng.shuffle(posts)
    return posts, final


async def post_all(app, posts, *, forged: int | None = None) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:

        async def post(i: int, url: str, params: dict[str, str]) -> int:
            signature = sign(url, params, token="forged" if i == forged else "sandbox-signing-key")
            path = url.removeprefix("http://127.0.0.1:8000")
            response = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
            return response.status_code

        return await asyncio.gather(*(post(i, url, params) for i, (url, params) in enumerate(posts)))


@pytest.mark.parametrize("batch_max", [200, 1])
def test_callbacks_out_of_order_and_at_once_end_at_the_last_status(engine, batch_max):
    ids = sending_rows(engine, 20)
    posts, final = callbacks(ids, random.Random(batch_max))
    forged_at = 7
    forged_url, forged_params = posts[forged_at]
    app = create_app(settings(webhook_batch_max=batch_max))
    try:
        statuses = asyncio.run(post_all(app, posts, forged=forged_at))
    finally:
        app.state.web.dispose()
    assert statuses == [403 if i == forged_at else 204 for i in range(len(posts))]
    with make_sessionmaker(engine)() as session:
        stored = dict(session.execute(select(Outbound.id, Outbound.status)).all())
        errors = dict(session.execute(select(Outbound.id, Outbound.error_code)).all())
    forged_row = int(forged_url.rsplit("=", 1)[1]) if "outbound=" in forged_url else None
    for outbound_id, last in final.items():
        if outbound_id == forged_row and forged_params["MessageStatus"] == last:
            assert stored[outbound_id] == "sent"  # its last word was forged: not applied
            continue
        assert stored[outbound_id] == last, outbound_id
        assert errors[outbound_id] == ("30003" if last == "undelivered" else None)


def test_one_batch_applies_each_callback_in_arrival_order(session):
    contact = make_contact(session)
    first = make_outbound(session, contact=contact, status="sending", provider_sid="SMone")
    second = make_outbound(session, contact=contact, status="sending")
    other = make_outbound(session, contact=contact, status="sending", provider_sid="SMother")

    def hook(sid, status, outbound_id=None, error=None):
        return StatusWebhook(sid, OutboundStatus(status), outbound_id, error, NOW)

    results = apply_status(session, [
        hook("SMone", "delivered"),
        hook("SMone", "sent"),  # late: ignored
        hook("SMtwo", "sent", second.id),  # no SID stored yet: matched by our id
        hook("SMtwo", "undelivered", second.id, "30003"),
        hook("SMwrong", "failed", other.id),  # the id and the SID disagree: the SID wins (unknown)
        hook("SMghost", "delivered"),
    ])
    assert results == [True, False, True, True, False, False]
    session.expire_all()
    assert (first.status, first.delivered_at, first.sent_at) == ("delivered", NOW, NOW)
    assert (second.status, second.error_code) == ("undelivered", "30003")
    assert other.status == "sending"


def test_unsubscribed_error_in_a_batch_opts_the_contact_out(session):
    contact = make_contact(session)
    row = make_outbound(session, contact=contact, status="sending", provider_sid="SMstop")
    queued = make_outbound(session, contact=contact, status="queued")
    results = apply_status(session, [StatusWebhook("SMstop", OutboundStatus.FAILED, None, "21610", NOW)])
    assert results == [True]
    session.expire_all()
    assert session.get(Contact, contact.id).status == ContactStatus.OPTED_OUT
    assert (row.status, queued.status) == ("failed", "cancelled")
