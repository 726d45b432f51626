"""The stored form of encrypted values: what earlier versions wrote still reads, a nonce is never used
twice under a key (not across threads, a spent counter or a fork), and the blind index is HMAC-SHA256.

Keys and values are synthetic (fixed test keys, +502 5555-01xx).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading

import pytest

from campaign.core import crypto
from campaign.core.crypto import NONCE_BYTES, Keyring

DATA_KEY = bytes(range(32))
INDEX_KEY = bytes(range(32, 64))
# Written by the version that drew every nonce with os.urandom(12) (commit 8a2ed49).
OLD_NAME = "eabfdc5f$QrxoWgtnYSymNLy117qZIHY3DkmLxHwiu8aAGJTc9pzo9deUAT+lIh9LtmmppliJXA8="
OLD_PHONE = "eabfdc5f$8BSbhRDLHJYX9ZMx0zg1yS3gWSIo5HQvPwe0LPZ3f6gK4IbaC+q59w=="
OLD_PHONE_INDEX = "c178b0c13f026e51d57a7f91b26c09db"


def _ring() -> Keyring:
    return Keyring([DATA_KEY], INDEX_KEY, "test")


def _nonce(token: str) -> bytes:
    return base64.b64decode(token.partition("$")[2])[:NONCE_BYTES]


def test_values_written_by_the_earlier_version_still_decrypt_and_index_the_same():
    ring = _ring()
    assert ring.decrypt(OLD_NAME) == "Persona Sintética Uno"
    assert ring.decrypt(OLD_PHONE) == "+50255550101"
    assert ring.blind_index("+50255550101") == OLD_PHONE_INDEX
    # ... and what this version writes reads back, one value at a time or in bulk
    assert ring.decrypt(ring.encrypt("Persona Sintética Dos")) == "Persona Sintética Dos"
    bulk = ring.encrypt_many(["+50255550102", None, ""])
    assert [None if t is None else ring.decrypt(t) for t in bulk] == ["+50255550102", None, ""]


def test_the_blind_index_is_hmac_sha256_of_the_number():
    ring = Keyring([DATA_KEY], os.urandom(32), "test")
    numbers = [f"+5025555{n:04d}" for n in range(200)]
    expected = [hmac.new(ring.index_key, n.encode(), hashlib.sha256).hexdigest()[:32] for n in numbers]
    assert ring.blind_indexes(numbers) == expected
    assert [ring.blind_index(n) for n in numbers] == expected


def test_nonces_never_repeat_across_many_encryptions_and_threads():
    ring = _ring()
    tokens: list[str] = []
    tokens.extend(ring.encrypt("+50255550101") for _ in range(50_000))
    tokens.extend(t for t in ring.encrypt_many(["Persona Sintética Uno"] * 50_000) if t)

    def encrypt_some() -> None:
        found = [ring.encrypt("+50255550103") for _ in range(20_000)]
        tokens.extend(found)  # list.extend is atomic

    threads = [threading.Thread(target=encrypt_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    nonces = [_nonce(t) for t in tokens]
    assert len(nonces) == 180_000
    assert len(set(nonces)) == len(nonces)
    # the same text never gives the same ciphertext either
    assert len(set(tokens)) == len(tokens)


def test_a_spent_counter_draws_a_new_prefix(monkeypatch):
    monkeypatch.setattr(crypto, "NONCE_COUNT", 3)
    ring = _ring()
    nonces = [_nonce(ring.encrypt("+50255550101")) for _ in range(30)]
    assert len(set(nonces)) == 30
    assert len({n[: crypto.NONCE_PREFIX_BYTES] for n in nonces}) >= 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (uvicorn workers)")
def test_a_forked_process_never_reuses_its_parents_nonces():
    ring = _ring()
    parent = [_nonce(ring.encrypt("+50255550101")) for _ in range(100)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: encrypts as a worker forked after the keyring was loaded would
        try:
            child = b"".join(_nonce(ring.encrypt("+50255550101")) for _ in range(100))
            os.write(write, child)
        finally:
            os._exit(0)
    os.close(write)
    received = b""
    while chunk := os.read(read, 65536):
        received += chunk
    os.close(read)
    os.waitpid(pid, 0)
    child = [received[i : i + NONCE_BYTES] for i in range(0, len(received), NONCE_BYTES)]
    assert len(child) == 100
    assert not set(child) & set(parent)
    after = [_nonce(ring.encrypt("+50255550101")) for _ in range(100)]  # the parent goes on counting
    assert len(set(parent + child + after)) == 300


def test_migrating_away_the_index_on_ciphertexts_keeps_every_row_pointing_at_contacts(migrated_engine):
    """0013 rebuilds `contacts` on SQLite: nothing that points at a contact may be lost with it."""
    from alembic import command
    from sqlalchemy import inspect, select, text

    from audiences.models import Contact
    from campaign.core.crypto import use_keyring
    from campaign.core.db import make_sessionmaker
    from campaign.schema import alembic_config, upgrade

    ring = _ring()
    use_keyring(ring)
    try:
        command.upgrade(alembic_config(migrated_engine), "0012")
        with migrated_engine.begin() as connection:
            for i in (1, 2):
                phone = f"+5025555010{i}"
                connection.execute(
                    text(
                        "INSERT INTO contacts (id, phone, phone_index, name, custom, status, created_at, "
                        "updated_at) VALUES (:id, :phone, :index, :name, '{}', 'active', :now, :now)"
                    ),
                    {"id": i, "phone": ring.encrypt(phone), "index": ring.blind_index(phone),
                     "name": ring.encrypt("Persona Sintética"), "now": "2027-01-12 15:00:00"},
                )
            connection.execute(text(
                "INSERT INTO consent_events (contact_id, kind, channel, at) VALUES (1, 'opt_in', 'import', "
                "'2027-01-12 15:00:00'), (2, 'opt_out', 'sms', '2027-01-12 15:00:00')"
            ))
            connection.execute(text(
                "INSERT INTO cases (id, contact_id, status, priority, opened_at, updated_at) "
                "VALUES (1, 2, 'open', 'urgent', '2027-01-12 15:00:00', '2027-01-12 15:00:00')"
            ))
        upgrade(migrated_engine)
        with migrated_engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM consent_events")).scalar() == 2
            assert connection.execute(text("SELECT count(*) FROM cases")).scalar() == 1
        unique = inspect(migrated_engine).get_unique_constraints("contacts")
        assert not any(c["column_names"] == ["phone"] for c in unique)
        with make_sessionmaker(migrated_engine)() as session:
            contact = session.scalar(select(Contact).where(Contact.phone_is("+50255550102")))
            assert contact is not None and contact.phone == "+50255550102"
        if migrated_engine.dialect.name == "sqlite":
            with migrated_engine.connect() as connection:  # foreign keys back on for the app
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        use_keyring(None)
