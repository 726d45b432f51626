"""Retention (`campaign privacy purge`), erasure (`campaign privacy erase`), key rotation
(`campaign keys rotate`) and logs without personal data, through the `campaign` command.

Every number, name and text here is synthetic.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from audiences.models import ConsentEvent, Contact, ContactStatus, Erasure, ImportBatch, ImportRejection
from campaign.blasts.models import Outbound
from campaign.core.audit import AuditEvent
from campaign.core.crypto import new_key, read_key_file, write_key_file
from campaign.core.db import make_engine, utcnow
from campaign.hotline.models import Case, CaseNote, CaseStatus, Inbound
from tests.campaign.hotline.cases import open_case, staff
from tests.factories import make_contact, make_outbound
from tests.processes import environment, run
from tests.subprocess_cli import run_cli, run_json

PHONE = "+50255550121"
NAME = "Persona Sintética Borrable"
TEXT = "me tienen encerrada en la casa"


def _count(session, model) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_purge_empties_old_texts_anonymizes_old_cases_deletes_old_reports_and_says_so(db_url, session):
    now = utcnow()
    old, recent = now - timedelta(days=200), now - timedelta(days=2)
    contact = make_contact(session, phone=PHONE, name=NAME)
    session.add_all(
        [
            Inbound(provider_sid="SMold", contact_id=contact.id, body=TEXT, intent="reply", received_at=old),
            Inbound(
                provider_sid="SMnew",
                contact_id=contact.id,
                body="hola de nuevo",
                intent="reply",
                received_at=recent,
            ),
        ]
    )
    make_outbound(session, contact=contact, status="delivered", created_at=old)
    make_outbound(session, contact=contact, status="queued", created_at=old, body="aún en la cola")
    make_outbound(session, contact=contact, status="delivered", created_at=recent, body="reciente")
    user = staff(session, "ana", now=now)
    stale = open_case(session, "necesito ayuda", now=now - timedelta(days=400))
    stale.status, stale.resolved_at = CaseStatus.RESOLVED, now - timedelta(days=400)
    session.add(
        CaseNote(case=stale, author_id=user.id, body="habló de su vecina Persona Sintética", created_at=old)
    )
    fresh = open_case(session, "otra consulta", now=now - timedelta(days=3))
    fresh.status, fresh.resolved_at = CaseStatus.RESOLVED, now - timedelta(days=3)
    session.add(CaseNote(case=fresh, author_id=user.id, body="nota reciente", created_at=recent))
    for days, value in ((40, "55-VIEJO"), (5, "55-NUEVO")):
        batch = ImportBatch(filename="x.csv", started_at=now - timedelta(days=days))
        batch.rejections.append(
            ImportRejection(row=2, column="phone", value=value, reason="phone: too short")
        )
        session.add(batch)
    session.commit()

    first = run_json("privacy", "purge", "--json", db_url=db_url)
    assert first == {
        "inbound_texts": 2,
        "outbound_texts": 2,
        "cases_anonymized": 1,
        "case_notes": 1,
        "media_files": 0,  # voice notes and images: tests/campaign/hotline/test_media.py
        "import_rejections": 1,
    }  # inbound: SMold and the stale case's message; outbound: the old blast and its auto-reply
    session.expire_all()
    assert session.scalar(select(Inbound.body).where(Inbound.provider_sid == "SMold")) == ""
    assert session.scalar(select(Inbound.body).where(Inbound.provider_sid == "SMnew")) == "hola de nuevo"
    bodies = dict(
        session.execute(select(Outbound.status, Outbound.body).where(Outbound.case_id.is_(None))).all()
    )
    assert bodies["queued"] == "aún en la cola"  # may still be sent: kept
    assert sorted(session.scalars(select(Outbound.body).where(Outbound.status == "delivered"))) == [
        "",
        "reciente",
    ]
    assert session.get(Case, stale.id).anonymized_at is not None
    assert session.get(Case, stale.id).outcome == stale.outcome  # figures stay
    assert [n.body for n in session.scalars(select(CaseNote))] == ["nota reciente"]
    assert list(session.scalars(select(ImportRejection.value))) == ["55-NUEVO"]

    again = run_cli("privacy", "purge", db_url=db_url)
    assert again.returncode == 0, again.stderr
    assert "Nothing was due for removal." in again.stdout
    assert "cases anonymized (resolved more than 365 days ago)" in again.stdout


def test_erase_removes_the_person_keeps_the_opt_out_and_audits_without_the_number(db_url, session, tmp_path):
    now = utcnow()
    case = open_case(session, TEXT, now=now - timedelta(hours=2), phone=PHONE)
    contact = session.get(Contact, case.contact_id)
    contact_id = contact.id
    contact.name = NAME
    session.add(CaseNote(case=case, body="llamar por la tarde"))
    make_outbound(session, contact=contact, status="delivered")
    other = make_contact(session, phone="+50255550122")
    session.commit()

    erased = run_cli("privacy", "erase", "+502 5555 0121", "--yes", db_url=db_url)
    assert erased.returncode == 0, erased.stderr
    assert f"Erased contact {contact_id}:" in erased.stdout and "stays opted out" in erased.stdout
    for stream in (erased.stdout, erased.stderr):
        assert "55550121" not in stream.replace(" ", "") and NAME not in stream
    session.expire_all()
    assert session.get(Contact, contact_id) is None and session.get(Contact, other.id) is not None
    assert _count(session, Inbound) == 0 and _count(session, CaseNote) == 0 and _count(session, Case) == 0
    assert session.scalar(select(func.count()).where(Outbound.contact_id == contact_id)) == 0
    assert session.scalar(select(func.count()).where(ConsentEvent.contact_id == contact_id)) == 0
    assert _count(session, Erasure) == 1
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase")).one()
    assert audit.target_id == contact_id and "55550121" not in json.dumps(audit.detail)

    # the number comes back in an import, and by SMS: opted out both times, never active
    (tmp_path / "again.csv").write_text(f"phone,name\n{PHONE},{NAME}\n", encoding="utf-8")
    assert (
        run_cli(
            "audiences", "import", str(tmp_path / "again.csv"), "--consent-source", "feria", db_url=db_url
        ).returncode
        == 0
    )
    session.expire_all()
    back = session.scalars(select(Contact).where(Contact.phone_is(PHONE))).one()
    assert back.status == ContactStatus.OPTED_OUT and back.consent_at is None
    missing = run_cli("privacy", "erase", "+50255550199", "--yes", db_url=db_url)
    assert missing.returncode == 1 and "no contact with that phone number" in missing.stderr


def test_erased_number_writing_again_starts_opted_out(session):
    from campaign.privacy.erasure import erase

    now = utcnow()
    open_case(session, "hola", now=now, phone=PHONE)
    erase(session, PHONE, now=now, actor="cli")
    case = open_case(session, "hola otra vez", now=now, phone=PHONE)
    assert session.get(Contact, case.contact_id).status == ContactStatus.OPTED_OUT


def test_key_rotation_with_the_key_file_re_encrypts_in_batches_and_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMPAIGN_DATA_KEY")
    monkeypatch.delenv("CAMPAIGN_INDEX_KEY")
    database = tmp_path / "var" / "campaign.db"
    env = environment(f"sqlite:///{database}")
    assert run(["campaign", "init"], cwd=tmp_path, env=env).returncode == 0
    people = "".join(f"+5025555{i:04d},Persona Sintética {i}\n" for i in range(130, 140))
    (tmp_path / "people.csv").write_text("phone,name\n" + people, encoding="utf-8")
    assert (
        run(
            ["campaign", "audiences", "import", "people.csv", "--consent-source", "feria"],
            cwd=tmp_path,
            env=env,
        ).returncode
        == 0
    )
    key_file = tmp_path / "var" / "campaign.keys"
    old = read_key_file(key_file)

    rotated = run(["campaign", "keys", "rotate", "--batch", "3", "--json"], cwd=tmp_path, env=env)
    assert rotated.returncode == 0, rotated.stderr
    result = json.loads(rotated.stdout)
    assert result["new_key"] and result["reencrypted"]["contacts"] == 10
    assert result["retired"] == [old.current_id]
    now_keys = read_key_file(key_file)
    assert now_keys.current_id == result["key_id"] != old.current_id and len(now_keys.data_keys) == 1
    assert now_keys.index_key == old.index_key  # the blind index is not rotated
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT phone, name FROM contacts")).all()
    assert all(v.startswith(result["key_id"] + "$") for row in stored for v in row)

    # Interrupted: a new key is first in the file and only some rows moved. The next run resumes.
    import base64

    fresh = new_key()
    current = base64.urlsafe_b64encode(now_keys.data_keys[0]).decode()
    write_key_file(key_file, [fresh, current], base64.urlsafe_b64encode(now_keys.index_key).decode())

    ring = read_key_file(key_file)
    with engine.begin() as connection:  # 4 of the 10 rows had moved when it stopped
        moved = connection.execute(text("SELECT id, phone, name FROM contacts LIMIT 4")).all()
        for row_id, phone, name in moved:
            connection.execute(
                text("UPDATE contacts SET phone = :p, name = :n WHERE id = :id"),
                {"p": ring.encrypt(ring.decrypt(phone)), "n": ring.encrypt(ring.decrypt(name)), "id": row_id},
            )
    engine.dispose()
    resumed = json.loads(run(["campaign", "keys", "rotate", "--json"], cwd=tmp_path, env=env).stdout)
    assert not resumed["new_key"] and resumed["key_id"] == ring.current_id
    assert resumed["reencrypted"]["contacts"] == 6
    assert resumed["retired"] == [now_keys.current_id]
    counted = run(
        ["campaign", "audiences", "count", 'phone = "+50255550131"', "--json"], cwd=tmp_path, env=env
    )
    assert json.loads(counted.stdout)["count"] == 1


def test_key_rotation_with_keys_in_the_environment(db_url, session, monkeypatch):
    import os

    make_contact(session, phone=PHONE, name=NAME)
    session.commit()
    old = os.environ["CAMPAIGN_DATA_KEY"]
    fresh = new_key()
    result = run_json("keys", "rotate", "--json", db_url=db_url, env={"CAMPAIGN_DATA_KEY": f"{fresh},{old}"})
    assert (
        not result["new_key"] and result["reencrypted"]["contacts"] == 1 and result["old_keys_in_environment"]
    )
    shown = run_cli("audiences", "opt-out", PHONE, db_url=db_url, env={"CAMPAIGN_DATA_KEY": fresh})
    assert shown.returncode == 0, shown.stderr
    assert "+502 ****-0121 opted out." in shown.stdout
    refused = run_cli(
        "audiences", "opt-in", PHONE, "--source", "x", db_url=db_url, env={"CAMPAIGN_DATA_KEY": old}
    )
    assert refused.returncode == 1 and "not configured" in refused.stderr


def test_failing_webhooks_and_ticks_log_no_number_name_or_text(db_url, session, caplog):
    """Bad signatures, malformed forms, a provider that quotes the number in its error and one that
    raises: the logs, the stored errors and the command's output carry no number, name or text."""
    import asyncio

    import httpx

    from campaign.blasts.dispatch import dispatch_due
    from campaign.core.errors import ProviderError
    from campaign.web import create_app
    from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign

    caplog.set_level(logging.DEBUG)
    people = [("+50255550141", "Persona Sintética Cuatro"), ("+50255550142", "Persona Sintética Cinco")]
    rows = []
    for phone, name in people:
        contact = make_contact(session, phone=phone, name=name)
        rows.append(
            make_outbound(session, contact=contact, body=TEXT, send_after=utcnow() - timedelta(minutes=1))
        )
    session.commit()

    class Failing:
        name = "failing"

        def send(self, request):
            if request.to == people[0][0]:
                raise ProviderError(
                    "21211", f"The 'To' number {request.to} is not a valid phone number.", retryable=False
                )
            raise RuntimeError(f"socket closed while sending {request.body!r} to {request.to}")

    app = create_app(settings())

    async def post_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            codes = []
            good = inbound_params(TEXT, phone=people[0][0])
            for form, signature in (
                (good, "forged"),
                ({k: v for k, v in good.items() if k != "MessageSid"}, None),
                (good, sign(inbound_url(), good)),
            ):
                codes.append(
                    (
                        await client.post(
                            "/twilio/inbound",
                            data=form,
                            headers={"X-Twilio-Signature": signature or sign(inbound_url(), form)},
                        )
                    ).status_code
                )
            return codes

    try:
        codes = asyncio.run(post_all())
    finally:
        app.state.web.dispose()
    assert codes[0] == 403 and codes[1] in (400, 422) and codes[2] == 200
    engine = make_engine(db_url)
    dispatch_due(engine, Failing(), now=utcnow(), settings=settings())
    engine.dispose()
    ticked = run_cli("tick", "--json", db_url=db_url, env={"CAMPAIGN_DATABASE_URL": db_url})
    session.expire_all()
    stored_errors = " ".join(e or "" for e in session.scalars(select(Outbound.error_message)))
    haystack = caplog.text + stored_errors + ticked.stdout + ticked.stderr
    assert "21211" in haystack or "socket closed" in haystack  # the failures were seen and logged
    for phone, name in people:
        assert phone[-8:] not in haystack.replace(" ", "").replace("-", "")
        assert name not in haystack
    assert TEXT not in caplog.text and TEXT not in stored_errors


@pytest.fixture(autouse=True)
def _forget_keys():
    from campaign.core.crypto import use_keyring

    yield
    use_keyring(None)


def test_the_scheduler_purges_when_it_starts_and_then_daily(db_url, session):
    from campaign.blasts.scheduling import run_forever
    from tests.campaign.web.helpers import settings

    contact = make_contact(session, phone=PHONE, name=NAME)
    session.add(
        Inbound(
            provider_sid="SMold",
            contact_id=contact.id,
            body=TEXT,
            intent="reply",
            received_at=utcnow() - timedelta(days=181),
        )
    )
    session.commit()
    assert run_forever(settings(tick_seconds=0.05), max_ticks=1) == 1
    session.expire_all()
    assert session.scalar(select(Inbound.body)) == ""
