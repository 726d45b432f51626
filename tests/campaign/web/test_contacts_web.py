"""The contacts pages through a client, on SQLite and PostgreSQL: upload, mapping, dry run and
import give the CLI's figures; bad files, unknown fields and rejected rows change nothing; lookup
by phone (POST, audited), reveal, opt-out and opt-in by hand. Data is synthetic."""

from __future__ import annotations

import csv
import io
import re
import stat
import warnings
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audiences.models import ConsentEvent, Contact, ContactStatus, ImportBatch
from audiences.sample import write_csv
from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import csrf_of, login, seed_users
from tests.factories import make_contact
from tests.subprocess_cli import run_json

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

FIGURES = (
    "rows",
    "would_import",
    "would_update",
    "would_leave_unchanged",
    "duplicates",
    "rejected",
    "warnings",
)


@pytest.fixture
def client(engine):
    seed_users(engine)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


@pytest.fixture
def manager(client):
    assert login(client, "mario").status_code == 303
    return client


def _count(engine, model) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _audits(engine, action: str) -> list[AuditEvent]:
    with make_sessionmaker(engine)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _upload(client, path: Path, name: str | None = None, content: bytes | None = None):
    token = csrf_of(client.get("/contacts").text)
    data = content if content is not None else path.read_bytes()
    return client.post(
        "/contacts/upload", data={"csrf_token": token}, files={"file": (name or path.name, data, "text/csv")}
    )


def _mapping_form(html: str) -> dict[str, str]:
    """The mapping page's form as the browser would send it (selected options, csrf)."""
    form = {"csrf_token": csrf_of(html)}
    for name, body in re.findall(r'<select name="(map-\d+)">(.*?)</select>', html, flags=re.S):
        form[name] = re.search(r'<option value="([^"]+)" selected>', body).group(1)
    return form


def _column_index(html: str, header: str) -> str:
    match = re.search(
        rf'data-column="{re.escape(header)}">\s*<span class="header">[^<]*</span>\s*<select name="(map-\d+)"',
        html,
    )
    assert match, header
    return match.group(1)


def _figures(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-figure="(\w+)"><strong>(\d+)</strong>', html)}


def _reasons(html: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-reason="([^"]*)"><td>[^<]*</td><td class="n">(\d+)</td>', html)
    return {reason: int(n) for reason, n in rows}


def _uploads_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"  # beside CAMPAIGN_EXPORT_DIR (tmp_path / "exports") in the tests


def test_hotline_staff_cannot_open_the_contacts_pages(client):
    login(client, "ana")
    token = csrf_of(client.get("/inbox").text)
    assert client.get("/contacts").status_code == 403
    assert client.get("/contacts/import").status_code == 403
    assert client.get("/contacts/1").status_code == 403
    assert (
        client.post("/contacts/lookup", data={"phone": "+50255550101", "csrf_token": token}).status_code
        == 403
    )
    assert client.post("/contacts/1/opt-out", data={"reason": "x", "csrf_token": token}).status_code == 403


def test_upload_map_dry_run_and_import_give_the_clis_figures(db_url, engine, manager, tmp_path):
    sample = write_csv(tmp_path / "muestra.csv", 300, 7)
    response = _upload(manager, sample)
    assert response.status_code == 303 and response.headers["location"] == "/contacts/import"
    stored = next(_uploads_dir(tmp_path).glob("*/data/muestra.csv"))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600  # the personal data waits privately
    assert stat.S_IMODE(stored.parent.parent.stat().st_mode) == 0o700
    page = manager.get("/contacts/import")
    assert page.status_code == 200 and "muestra.csv" in page.text
    form = _mapping_form(page.text)
    assert form[_column_index(page.text, "teléfono")] == "phone"  # the CLI's guess
    assert form[_column_index(page.text, "adolescent_children")] == "custom"
    form[_column_index(page.text, "nombre")] = "ignore"  # fixed by hand: names are not kept
    form["partial"] = "1"

    cli = run_json(
        "audiences",
        "import",
        str(sample),
        "--dry-run",
        "--partial",
        "--map",
        "nombre=ignore",
        "--json",
        db_url=db_url,
    )
    checked = manager.post("/contacts/import/check", data=form)
    assert checked.status_code == 200, checked.text
    figures = _figures(checked.text)
    assert figures == {k: cli[k] for k in FIGURES}
    assert cli["rejected"] > 0 and _reasons(checked.text) == cli["rejected_by_reason"]
    assert _count(engine, Contact) == 0 and _count(engine, ImportBatch) == 0  # a dry run writes nothing

    done = manager.post("/contacts/import/run", data=form)
    assert done.status_code == 200, done.text
    assert _figures(done.text)["would_import"] == cli["would_import"]
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == cli["would_import"]
        assert session.scalars(select(Contact.name).where(Contact.name.is_not(None))).all() == []
        batch = session.scalars(select(ImportBatch)).one()
        assert batch.filename == "muestra.csv" and batch.imported == cli["would_import"]
    audit = _audits(engine, "contacts.import")
    assert len(audit) == 1 and audit[0].detail["imported"] == cli["would_import"]
    assert not stored.exists()  # the file is deleted once imported
    report = manager.get("/contacts/import/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(report.text)))
    assert rows[0] == ["row", "column", "value", "reason"] and len(rows) > 1
    assert not any(cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row[2:3])
    assert manager.get("/contacts/import").status_code == 422  # imported: upload again to redo


def test_a_bad_file_is_refused_and_nothing_is_kept(engine, manager, tmp_path):
    for name, content in [
        ("contactos.pdf", b"%PDF-1.4 not a contact list"),
        ("contactos.xlsx", b"PK\x03\x04 broken zip\x00\x00"),
        ("contactos.csv", b""),
        ("contactos.csv", b"\x00\x01\x02binary"),
    ]:
        response = _upload(manager, Path(name), name=name, content=content)
        assert response.status_code == 422, (name, response.status_code)
        assert "contactos" in response.text and "file" in response.text.lower()
    assert list(_uploads_dir(tmp_path).iterdir()) == []
    assert _count(engine, Contact) == 0


def test_a_mapping_naming_an_unknown_field_changes_nothing(engine, manager, tmp_path):
    sample = write_csv(tmp_path / "muestra.csv", 50, 3)
    _upload(manager, sample)
    page = manager.get("/contacts/import").text
    form = _mapping_form(page)
    form[_column_index(page, "sexo")] = "favourite_colour"
    for step in ("check", "run"):
        response = manager.post(f"/contacts/import/{step}", data=form)
        assert response.status_code == 422
        assert "favourite_colour" in response.text and "map" in response.text
    form[_column_index(page, "teléfono")] = "ignore"  # no phone column left
    response = manager.post("/contacts/import/run", data=form)
    assert response.status_code == 422 and "phone" in response.text
    assert "--map" not in response.text  # the web's form has the mapping, not the CLI's option
    assert _count(engine, Contact) == 0 and _count(engine, ImportBatch) == 0
    assert _audits(engine, "contacts.import") == []


def test_all_or_nothing_refuses_a_file_with_rejected_rows(engine, manager, tmp_path):
    sample = write_csv(tmp_path / "muestra.csv", 300, 7)
    _upload(manager, sample)
    form = _mapping_form(manager.get("/contacts/import").text)
    response = manager.post("/contacts/import/run", data=form)
    assert response.status_code == 422
    assert "nada importado" in response.text.lower() or "nothing imported" in response.text.lower()
    assert _count(engine, Contact) == 0 and _count(engine, ImportBatch) == 0
    assert manager.get("/contacts/import/report").status_code == 200  # the report says what to fix


def test_a_file_without_consent_needs_a_source(engine, manager, tmp_path):
    path = tmp_path / "lista.csv"
    path.write_text("telefono,idioma\n+502 5555 0101,mam\n5555-0102,es\n", encoding="utf-8")
    _upload(manager, path)
    page = manager.get("/contacts/import").text
    assert "no consent column" in page or "no tiene columna de consentimiento" in page
    form = _mapping_form(page)
    refused = manager.post("/contacts/import/run", data=form)
    assert refused.status_code == 422 and "consent" in refused.text
    assert "--consent-source" not in page and "--consent-source" not in refused.text
    assert _count(engine, Contact) == 0
    done = manager.post("/contacts/import/run", data={**form, "consent_source": "feria (sintético)"})
    assert done.status_code == 200
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2
        assert set(session.scalars(select(ConsentEvent.source))) == {"feria (sintético)"}


def test_look_up_reveal_opt_out_and_opt_in(engine, manager):
    with make_sessionmaker(engine).begin() as session:
        contact_id = make_contact(session, phone="+50255550123").id
    page = manager.get("/contacts").text
    assert re.search(r'<form method="post" action="/contacts/lookup"', page)  # never a GET with the number
    token = csrf_of(page)
    found = manager.post("/contacts/lookup", data={"phone": "5555-0123", "csrf_token": token})
    assert found.status_code == 200
    assert "****-0123" in found.text and "55550123" not in found.text
    audit = _audits(engine, "contact.lookup")
    assert [a.target_id for a in audit] == [contact_id] and "5555" not in str(audit[0].detail)

    missing = manager.post("/contacts/lookup", data={"phone": "+50255559999", "csrf_token": token})
    assert missing.status_code == 404 and "phone" in missing.text
    bad = manager.post("/contacts/lookup", data={"phone": "hola", "csrf_token": token})
    assert bad.status_code == 422 and "phone: " in bad.text
    spanish = manager.post(
        "/contacts/lookup", data={"phone": "123", "csrf_token": token}, headers={"Accept-Language": "es"}
    )
    assert spanish.status_code == 422 and "teléfono: " in spanish.text
    assert len(_audits(engine, "contact.lookup")) == 4  # found or not, every lookup is recorded

    shown = manager.post(f"/contacts/{contact_id}/reveal", data={"csrf_token": token})
    assert shown.status_code == 200 and "+50255550123" in shown.text
    assert [a.target_id for a in _audits(engine, "contact.reveal")] == [contact_id]

    refused = manager.post(f"/contacts/{contact_id}/opt-out", data={"reason": "  ", "csrf_token": token})
    assert refused.status_code == 422 and "reason" in refused.text
    out = manager.post(
        f"/contacts/{contact_id}/opt-out", data={"reason": "llamada a la oficina", "csrf_token": token}
    )
    assert out.status_code == 303 and out.headers["location"] == f"/contacts/{contact_id}"
    with make_sessionmaker(engine)() as session:
        assert session.get(Contact, contact_id).status == ContactStatus.OPTED_OUT
        event = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)).one()
        assert (event.kind, event.channel, event.source) == ("opt_out", "web", "llamada a la oficina")
    view = manager.get(f"/contacts/{contact_id}")
    assert view.status_code == 200 and "llamada a la oficina" in view.text
    assert _audits(engine, "contact.opt_out")[0].detail == {"reason": "llamada a la oficina"}

    back = manager.post(
        f"/contacts/{contact_id}/opt-in", data={"reason": "formulario firmado", "csrf_token": token}
    )
    assert back.status_code == 303
    with make_sessionmaker(engine)() as session:
        contact = session.get(Contact, contact_id)
        assert contact.status == ContactStatus.ACTIVE and contact.consent_source == "formulario firmado"
    assert len(_audits(engine, "contact.opt_in")) == 1
    assert manager.get("/contacts/999999").status_code == 404


def test_an_xlsx_workbook_uploads_and_checks_like_its_csv(db_url, engine, manager, tmp_path):
    import pandas as pd

    sample = write_csv(tmp_path / "muestra.csv", 120, 5)
    workbook = tmp_path / "muestra.xlsx"
    pd.read_csv(sample, dtype=str, keep_default_na=False).to_excel(workbook, index=False)
    assert b"\x00" in workbook.read_bytes()  # binary: the NUL guard must let a workbook through
    response = _upload(manager, workbook)
    assert response.status_code == 303, response.text
    form = {**_mapping_form(manager.get("/contacts/import").text), "partial": "1"}
    cli = run_json("audiences", "import", str(workbook), "--dry-run", "--partial", "--json", db_url=db_url)
    checked = manager.post("/contacts/import/check", data=form)
    assert checked.status_code == 200 and _figures(checked.text) == {k: cli[k] for k in FIGURES}


def test_an_upload_is_its_owners_and_expires(engine, client, tmp_path):
    from datetime import timedelta

    from campaign.core.db import utcnow
    from campaign.web import uploads

    root = uploads.upload_root(tmp_path / "exports")
    now = utcnow()
    stream = io.BytesIO(b"tel\n1\n")
    upload = uploads.save_upload(root, user_id=1, filename="../../lista.csv", stream=stream, now=now)
    assert upload.path.parent.parent == root / upload.token and upload.filename == "lista.csv"
    assert uploads.open_upload(root, upload.token, user_id=1, now=now).filename == "lista.csv"
    for token, user_id, when in [
        (upload.token, 2, now),  # someone else's
        (upload.token, 1, now + uploads.UPLOAD_TTL + timedelta(seconds=1)),  # expired
        ("../" + upload.token, 1, now),
        (None, 1, now),
    ]:
        with pytest.raises(uploads.Invalid):
            uploads.open_upload(root, token, user_id=user_id, now=when)
    assert uploads.sweep(root, now=now) == 0
    assert uploads.sweep(root, now=now + uploads.UPLOAD_TTL + timedelta(seconds=1)) == 1
    assert list(root.iterdir()) == []


def test_the_contact_page_shows_messages_replies_cases_and_consent(engine, manager):
    from datetime import UTC, datetime

    from tests.campaign.web.test_app import receive
    from tests.factories import make_blast, make_outbound

    with make_sessionmaker(engine).begin() as session:
        contact = make_contact(session, phone="+50255550177")
        occurrence = make_blast(session)
        make_outbound(
            session,
            contact=contact,
            occurrence=occurrence,
            status="delivered",
            sent_at=datetime(2027, 1, 11, 16, 0, tzinfo=UTC),
            body="Cuidado con ofertas falsas (sintético)",
        )
        contact_id = contact.id
    receive(engine, "¿es real esa oferta? necesito ayuda", phone="+50255550177")
    receive(engine, "BAJA", phone="+50255550177")
    token = csrf_of(manager.get("/contacts").text)
    page = manager.post("/contacts/lookup", data={"phone": "+502 5555 0177", "csrf_token": token})
    assert page.status_code == 200
    html = page.text
    assert "Cuidado con ofertas falsas (sintético)" in html  # a message sent
    assert "¿es real esa oferta? necesito ayuda" in html  # a reply
    cases = re.search(r'<ul class="past-cases">(.*?)</ul>', html, flags=re.S).group(1)
    assert re.search(r"#\d+", cases)  # the case the reply opened
    consent = re.search(r'<ul class="consent">(.*?)</ul>', html, flags=re.S).group(1)
    assert "opt-out" in consent and "sms" in consent  # the STOP, with its channel
    assert "+50255550177" not in html and "****-0177" in html
    with make_sessionmaker(engine)() as session:
        assert session.get(Contact, contact_id).status == ContactStatus.OPTED_OUT


def test_a_custom_columns_type_is_chosen_like_the_clis_type_option(db_url, engine, manager, tmp_path):
    sample = write_csv(tmp_path / "muestra.csv", 60, 9)
    _upload(manager, sample)
    page = manager.get("/contacts/import").text
    form = {**_mapping_form(page), "partial": "1"}
    index = _column_index(page, "adolescent_children").split("-")[1]
    assert f'name="type-{index}"' in page  # offered for a custom column only
    assert 'name="type-0"' not in page  # teléfono is the phone
    cli = run_json(
        "audiences", "import", str(sample), "--dry-run", "--partial", "--type", "adolescent_children=text",
        "--json", db_url=db_url,
    )
    checked = manager.post("/contacts/import/check", data={**form, f"type-{index}": "text"})
    assert checked.status_code == 200
    assert 'data-custom="adolescent_children" data-type="text"' in checked.text
    assert cli["custom_fields"] == {"adolescent_children": "text"}
    assert _figures(checked.text) == {k: cli[k] for k in FIGURES}
    bad = manager.post("/contacts/import/run", data={**form, f"type-{index}": "colour"})
    assert bad.status_code == 422 and "type" in bad.text and "colour" in bad.text
    assert _count(engine, Contact) == 0
