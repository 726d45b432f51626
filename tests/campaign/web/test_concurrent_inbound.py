"""Concurrent inbound through the web app: messages arriving at once from new numbers are all kept.

Issue 12: three messages at once from each of 10 new numbers lost 5 of 30 on PostgreSQL (two
requests inserted the same new contact; one got a 500). The requests here run concurrently
through the app's own thread pool, as uvicorn runs them.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from audiences.models import Contact
from campaign.core.crypto import blind_index
from campaign.core.db import make_sessionmaker
from campaign.hotline.models import Case, CaseStatus, Inbound
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign
from tests.factories import synthetic_phone

BODIES = ["hola, ¿esto es real?", "AYUDA", "me ofrecieron trabajo en otro país"]


async def post_all(app, forms: list[dict[str, str]]) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500, as served
    url = inbound_url()
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        responses = await asyncio.gather(
            *(
                client.post("/twilio/inbound", data=form, headers={"X-Twilio-Signature": sign(url, form)})
                for form in forms
            )
        )
    return [response.status_code for response in responses]


def test_three_messages_at_once_from_ten_new_numbers_are_all_stored(engine):
    phones = [synthetic_phone() for _ in range(10)]
    forms = [inbound_params(body, phone=phone) for body in BODIES for phone in phones]
    app = create_app(settings())
    try:
        statuses = asyncio.run(post_all(app, forms))
    finally:
        app.state.web.dispose()
    assert statuses == [200] * 30
    with make_sessionmaker(engine)() as session:
        stored = set(session.scalars(select(Inbound.provider_sid)))
        assert stored == {form["MessageSid"] for form in forms}
        # one contact per number: counted by the blind index (each ciphertext is unique anyway)
        per_phone = dict(
            session.execute(select(Contact.phone_index, func.count()).group_by(Contact.phone_index)).all()
        )
        assert per_phone == {blind_index(phone): 1 for phone in phones}
        assert sorted(session.scalars(select(Contact.phone))) == sorted(phones)
        open_cases = session.execute(
            select(Case.contact_id, func.count())
            .where(Case.status.in_((CaseStatus.NEW, CaseStatus.OPEN)))
            .group_by(Case.contact_id)
        ).all()
        assert sorted(n for _, n in open_cases) == [1] * 10
        # every message of a number is filed on that number's one case
        cases_per_contact = func.count(func.distinct(Inbound.case_id))
        threads = session.execute(
            select(Inbound.contact_id, cases_per_contact).group_by(Inbound.contact_id)
        ).all()
        assert sorted(n for _, n in threads) == [1] * 10
