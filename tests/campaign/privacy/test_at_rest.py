"""Personal data at rest: encrypted in the database, its WAL and exports; keys from the environment
or the 0600 key file; queries over phone by the blind index; the migration encrypts old rows.

Every number and name here is synthetic (+502 5555-01xx).
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from audiences.models import Contact, ImportBatch, ImportRejection
from audiences.segments import count
from campaign.core.config import get_settings
from campaign.core.crypto import activate, blind_index, use_keyring
from campaign.core.db import make_engine, make_sessionmaker, unit_of_work
from campaign.core.errors import Invalid
from campaign.hotline.models import Case, CaseNote, Inbound
from campaign.hotline.webhooks import handle_inbound
from tests.campaign.web.helpers import inbound_params, inbound_url, sign
from tests.factories import make_contact
from tests.processes import environment, run

NOW = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
PEOPLE = [
    ("+50255550101", "Persona Sintética Uno"),
    ("+50255550102", "Persona Sintética Dos"),
    ("+50255550103", "Persona Sintética Tres"),
]
BODY = "estoy encerrada, ayúdenme por favor"


def _forms_of(number: str) -> list[bytes]:
    """The ways a number can sit in a file: E.164, digits only, national digits."""
    digits = number.lstrip("+")
    return [number.encode(), digits.encode(), digits[3:].encode()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("keys", ["environment", "key file"])
def test_no_number_name_or_text_in_the_database_its_wal_or_an_export(tmp_path, monkeypatch, keys):
    if keys == "key file":
        monkeypatch.delenv("CAMPAIGN_DATA_KEY")
        monkeypatch.delenv("CAMPAIGN_INDEX_KEY")
    database = tmp_path / "var" / "campaign.db"
    env = environment(f"sqlite:///{database}")
    init = run(["campaign", "init"], cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    key_file = tmp_path / "var" / "campaign.keys"
    if keys == "key file":
        assert _mode(key_file) == 0o600 and "back it up" in init.stderr
    else:
        assert not key_file.exists()
    rows = "\n".join(f"{phone},{name},es,San Marcos" for phone, name in PEOPLE)
    (tmp_path / "people.csv").write_text(
        f"teléfono,nombre,idioma,departamento\n{rows}\n55-ABC-RECHAZO,Nombre Rechazado,es,San Marcos\n",
        encoding="utf-8",
    )
    # A reader holds the database open, so the WAL of what follows stays on disk to be searched.
    reader = sqlite3.connect(database)
    reader.execute("SELECT count(*) FROM contacts").fetchone()
    try:
        imported = run(
            ["campaign", "audiences", "import", "people.csv", "--partial", "--consent-source", "formulario"],
            cwd=tmp_path,
            env=env,
        )
        assert imported.returncode == 0, imported.stderr
        # a message from one of them opens a case (in-process, through the signed webhook handler)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("CAMPAIGN_DATABASE_URL", f"sqlite:///{database}")
        settings = get_settings()
        activate(settings)
        engine = make_engine(settings.database_url)
        params = inbound_params(BODY, phone=PEOPLE[0][0])
        with unit_of_work(engine) as session:
            handle_inbound(
                session,
                url=inbound_url(),
                params=params,
                signature=sign(inbound_url(), params),
                settings=settings,
                now=NOW,
            )
        with make_sessionmaker(engine)() as session:  # and reads back in clear through the models
            assert sorted(session.scalars(select(Contact.phone))) == [p for p, _n in PEOPLE]
            assert session.scalar(select(Inbound.body)).startswith(BODY)
            assert session.scalar(
                select(ImportRejection.value).where(ImportRejection.column == "teléfono")
            ) == ("55-ABC-RECHAZO")
        engine.dispose()
        exported = run(["campaign", "inbox", "export", "--out", "cases.csv"], cwd=tmp_path, env=env)
        assert exported.returncode == 0, exported.stderr
        wal = Path(f"{database}-wal")
        assert wal.exists() and wal.stat().st_size > 0
        files = [database, wal, tmp_path / "cases.csv"]
        blobs = {path.name: path.read_bytes() for path in files}
        modes = {path.name: oct(_mode(path)) for path in [*files, Path(f"{database}-shm")]}
    finally:
        reader.close()
    needles = [f for phone, _n in PEOPLE for f in _forms_of(phone)]
    needles += [name.encode() for _p, name in PEOPLE] + [b"Nombre Rechazado", b"55-ABC-RECHAZO"]
    found = {(name, needle) for name, blob in blobs.items() for needle in needles if needle in blob}
    assert found == set()
    # the message's text is encrypted too (the case export shows it to staff: that is its purpose)
    assert BODY.encode() not in blobs["campaign.db"] and BODY.encode() not in blobs["campaign.db-wal"]
    assert b"+502 ****-0101" in blobs["cases.csv"]  # the export shows the masked number
    assert set(modes.values()) == {"0o600"}, modes


def test_config_says_where_the_keys_come_from_and_masks_them(tmp_path, monkeypatch):
    env = environment(f"sqlite:///{tmp_path}/var/campaign.db")
    shown = run(["campaign", "config"], cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "environment (CAMPAIGN_DATA_KEY, CAMPAIGN_INDEX_KEY)" in shown.stdout
    assert (
        env["CAMPAIGN_DATA_KEY"][:12] not in shown.stdout
        and env["CAMPAIGN_DATA_KEY"][-4:] not in shown.stdout
    )
    del env["CAMPAIGN_DATA_KEY"], env["CAMPAIGN_INDEX_KEY"]
    from_file = run(["campaign", "config"], cwd=tmp_path, env=env)
    assert "key file var/campaign.keys" in from_file.stdout
    assert "back that file up" in from_file.stderr


def test_postgresql_without_keys_is_refused_naming_the_setting(tmp_path):
    env = environment("postgresql+psycopg://postgres@127.0.0.1:5432/never_used")
    del env["CAMPAIGN_DATA_KEY"], env["CAMPAIGN_INDEX_KEY"]
    refused = run(["campaign", "init"], cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: CAMPAIGN_DATA_KEY: set CAMPAIGN_DATA_KEY and CAMPAIGN_INDEX_KEY")
    assert not (tmp_path / "var").exists()
    half = run(["campaign", "init"], cwd=tmp_path, env={**env, "CAMPAIGN_DATA_KEY": "x" * 10})
    assert half.returncode == 1 and "CAMPAIGN_INDEX_KEY" in half.stderr


def test_phone_queries_use_the_blind_index_and_others_are_refused(session):
    for phone, name in PEOPLE:
        make_contact(session, phone=phone, name=name)
    session.flush()
    today = NOW.date()
    assert count(session, 'phone = "+502 5555 0101"', today=today).count == 1
    assert count(session, 'phone in ("55550101", "+50255550103")', today=today).count == 2
    assert count(session, 'phone != "+50255550101"', today=today).count == 2
    assert count(session, 'phone = "+50255550199"', today=today).count == 0
    with pytest.raises(Invalid, match="phone is stored encrypted: compare it with =, != or in"):
        count(session, 'phone > "+502"', today=today)
    with pytest.raises(Invalid, match="name is stored encrypted and cannot be searched"):
        count(session, 'name = "Persona Sintética Uno"', today=today)
    assert count(session, "name != null", today=today).count == 3
    # the stored values are ciphertexts; the index is a keyed hash, not the number
    raw = session.execute(text("SELECT phone, name, phone_index FROM contacts ORDER BY id")).all()
    for (phone, name), (stored_phone, stored_name, index) in zip(PEOPLE, raw, strict=True):
        assert phone not in stored_phone and name not in stored_name
        assert index == blind_index(phone) and phone.lstrip("+") not in index


def test_comparing_an_encrypted_column_in_sql_is_an_error_not_an_empty_result():
    with pytest.raises(TypeError, match="encrypted"):
        select(Contact).where(Contact.phone == "+50255550101")
    select(Contact).where(Contact.name == None)  # noqa: E711 - IS NULL stays meaningful


def test_the_migration_encrypts_rows_stored_in_clear(migrated_engine):
    from alembic import command

    from campaign.schema import alembic_config, upgrade

    command.upgrade(alembic_config(migrated_engine), "0007")
    with migrated_engine.begin() as connection:
        for i, (phone, name) in enumerate(PEOPLE, start=1):
            connection.execute(
                text(
                    "INSERT INTO contacts (id, phone, name, custom, status, created_at, updated_at) "
                    "VALUES (:id, :phone, :name, '{}', 'active', :now, :now)"
                ),
                {"id": i, "phone": phone, "name": name, "now": NOW.replace(tzinfo=None)},
            )
        connection.execute(
            text(
                "INSERT INTO inbound (id, provider_sid, contact_id, body, intent, received_at) "
                "VALUES (1, 'SM1', 1, :body, 'urgent', :now)"
            ),
            {"body": BODY, "now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            text(
                "INSERT INTO cases (id, contact_id, status, priority, opened_at, updated_at) "
                "VALUES (1, 1, 'open', 'urgent', :now, :now)"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            text("INSERT INTO case_notes (id, case_id, body, created_at) VALUES (1, 1, :body, :now)"),
            {"body": "llamó Persona Sintética Uno", "now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            text(
                "INSERT INTO import_batches (id, filename, started_at, rows, imported, updated, duplicates, "
                "rejected, summary) VALUES (1, 'x.csv', :now, 1, 0, 0, 0, 1, '{}')"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            text(
                'INSERT INTO import_rejections (id, batch_id, row, "column", value, reason) '
                "VALUES (1, 1, 2, 'phone', '55-ABC-RECHAZO', 'phone: too short')"
            ),
        )
    upgrade(migrated_engine)
    with migrated_engine.connect() as connection:
        stored = " ".join(
            str(v)
            for query in (
                "SELECT phone, name FROM contacts",
                "SELECT body FROM inbound",
                "SELECT body FROM case_notes",
                "SELECT value FROM import_rejections",
            )
            for row in connection.execute(text(query))
            for v in row
        )
    assert not any(p in stored or n in stored for p, n in PEOPLE)
    assert BODY not in stored and "55-ABC-RECHAZO" not in stored
    with make_sessionmaker(migrated_engine)() as session:
        contact = session.scalar(select(Contact).where(Contact.phone_is("+50255550102")))
        assert contact is not None and contact.name == "Persona Sintética Dos"
        assert session.scalar(select(Inbound.body)) == BODY
        assert session.scalar(select(CaseNote.body)) == "llamó Persona Sintética Uno"
        assert session.get(Case, 1) is not None
        assert session.scalar(select(ImportRejection.value)) == "55-ABC-RECHAZO"
        assert session.get(ImportBatch, 1) is not None
    use_keyring(None)
