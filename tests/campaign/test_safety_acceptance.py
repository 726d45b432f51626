"""Issue 11's acceptance, end to end on SQLite and PostgreSQL: consent refused at import, an
unknown sender and the "sí" rule, each through the real entry points (the `campaign` command in a
subprocess, signed webhooks through the web app) and then the real scheduler tick that decides
who a blast reaches. All numbers and people are synthetic.

The other acceptance items live next to the code they hold: the mid-batch STOP and help in
tests/campaign/blasts/test_muting.py, the outage catch-up, the global and the per-contact caps in
tests/campaign/blasts/test_pacing.py (both through tick(now=...), on both databases)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from audiences.models import ConsentEvent, Contact
from campaign.blasts.lifecycle import launch
from campaign.blasts.models import Outbound
from campaign.blasts.scheduling import tick
from campaign.core.config import get_settings
from campaign.hotline.models import Case, CaseStatus
from campaign.providers.sandbox import SandboxProvider
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, sign
from tests.factories import make_contact, make_sms_campaign, make_sms_message, synthetic_phone
from tests.subprocess_cli import run_cli

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

LAUNCH = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)  # Sunday 09:00 in Guatemala
MONDAY_10 = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
TUESDAY_10 = datetime(2027, 1, 12, 16, 0, tzinfo=UTC)


class RecordingProvider(SandboxProvider):
    """The sandbox without simulated callbacks and replies: it only records what was sent."""

    def _simulate(self, message, url):  # noqa: ARG002 - nothing happens after a send
        return None


def _outcomes(session, campaign) -> dict[str, str]:
    """phone -> sent / skipped reason, for one campaign."""
    session.expire_all()
    rows = session.execute(
        select(Contact.phone, func.coalesce(Outbound.skip_reason, Outbound.status))
        .join(Contact, Contact.id == Outbound.contact_id)
        .where(Outbound.campaign_id == campaign.id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def _blast(session, engine, *, at: str, when: datetime) -> tuple[object, RecordingProvider]:
    """A one-step campaign to everyone in Guatemala, launched and ticked at its time."""
    message = make_sms_message(session)
    campaign = make_sms_campaign(
        session, message=message, query='country = "GT"', at=at, step={"fallback": ["contact", "es"]}
    )
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    provider = RecordingProvider(settings)
    tick(engine, provider, now=when, settings=settings)
    return campaign, provider


def test_an_import_without_consent_is_refused_and_no_means_no_blast(engine, session, db_url, tmp_path):
    bare = tmp_path / "lista.csv"
    bare.write_text(
        "telefono,nombre,departamento\n+50255550101,Persona Sintética,San Marcos\n", encoding="utf-8"
    )
    refused = run_cli("audiences", "import", str(bare), db_url=db_url)
    assert refused.returncode == 1
    assert "lista.csv has no consent column" in refused.stderr and "nothing imported" in refused.stderr
    assert "--consent-source" in refused.stderr  # how to give it, in the command line's words
    assert session.scalar(select(func.count()).select_from(Contact)) == 0

    consent = tmp_path / "feria.csv"
    consent.write_text(
        "telefono,nombre,departamento,consentimiento\n"
        "+50255550101,Persona Sintética Uno,San Marcos,feria de salud\n"
        "+50255550102,Persona Sintética Dos,San Marcos,no\n",
        encoding="utf-8",
    )
    done = run_cli("audiences", "import", str(consent), "--by", "ana", db_url=db_url)
    assert done.returncode == 0, done.stderr
    events = session.execute(
        select(ConsentEvent.source, ConsentEvent.recorded_by, ConsentEvent.channel)
    ).all()
    assert events == [("feria de salud", "ana", "import")]

    campaign, provider = _blast(session, engine, at="2027-01-11 10:00", when=MONDAY_10)
    assert _outcomes(session, campaign) == {"+50255550101": "sent", "+50255550102": "no_consent"}
    assert [m.to for m in provider.sent] == ["+50255550101"]


def test_an_unknown_sender_and_the_si_rule_through_the_webhook_then_the_tick(engine, session):
    member = make_contact(session, department="GT-12")  # imported with consent
    session.commit()
    stranger = synthetic_phone()
    settings = get_settings()

    def write(client: TestClient, phone: str, text: str) -> str:
        params = inbound_params(text, phone=phone)
        signature = sign(inbound_url(settings.public_url), params)
        answer = client.post("/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200, answer.text
        return answer.text

    with TestClient(create_app(settings)) as client:
        write(client, stranger, "hola, quién es?")  # an unknown sender: a contact the hotline can answer
        write(client, member.phone, "Sí")  # a bare "sí" to no question: a reply, nothing changes
        write(client, member.phone, "BAJA")
        asked = write(client, member.phone, "si")  # after BAJA: we ask before re-subscribing
        assert "SI" in asked
        write(client, member.phone, "si")  # the answer to our question: re-subscribed
    # Staff resolve the cases (an open case keeps blasts away from a contact, see invariant 2).
    session.execute(update(Case).values(status=CaseStatus.RESOLVED))
    session.commit()

    first, _ = _blast(session, engine, at="2027-01-11 10:00", when=MONDAY_10)
    assert _outcomes(session, first) == {member.phone: "sent", stranger: "no_consent"}
    kinds = session.scalars(
        select(ConsentEvent.kind).join(Contact).where(Contact.phone_is(member.phone)).order_by(ConsentEvent.id)
    ).all()
    assert kinds == ["opt_out", "opt_in"]  # the bare "sí" recorded nothing

    with TestClient(create_app(settings)) as client:
        write(client, stranger, "ALTA")  # an explicit keyword always works
    session.execute(update(Case).values(status=CaseStatus.RESOLVED))
    session.commit()
    second, provider = _blast(session, engine, at="2027-01-12 10:00", when=TUESDAY_10)
    assert _outcomes(session, second) == {member.phone: "sent", stranger: "sent"}
    assert sorted(m.to for m in provider.sent) == sorted([member.phone, stranger])
