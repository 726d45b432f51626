"""Two dispatchers at once on one database send every row exactly once (SKIP LOCKED / claim guard)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from campaign.blasts.dispatch import dispatch_due
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.db import make_engine
from campaign.providers.twilio import TwilioProvider
from tests.factories import make_blast, make_contact, make_outbound
from tests.fakes.twilio_server import FakeTwilio, twilio_settings

NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)


def test_two_dispatchers_send_each_row_once(db_url, session):
    occurrence = make_blast(session)
    phones = []
    for _ in range(120):
        contact = make_contact(session)
        phones.append(contact.phone)
        make_outbound(session, contact=contact, occurrence=occurrence)
    session.commit()
    with FakeTwilio(latency=0.005, clock=lambda: NOW) as fake:
        settings = twilio_settings(fake, batch_size=10, concurrency=4)
        results = []
        start = threading.Barrier(2)

        def run() -> None:
            engine = make_engine(db_url)  # a dispatcher of its own: own engine, own connections
            start.wait()
            provider = TwilioProvider(settings, timeout=5)
            results.append(dispatch_due(engine, provider, now=NOW, settings=settings))
            engine.dispose()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sends = Counter(m["to"] for m in fake.messages)
    assert sorted(sends) == sorted(phones) and set(sends.values()) == {1}
    assert sum(r.sent for r in results) == 120
    assert all(r.sent > 0 for r in results), "both dispatchers took part"
    counts = dict(session.execute(select(Outbound.status, func.count()).group_by(Outbound.status)).all())
    assert counts == {OutboundStatus.SENT: 120}
