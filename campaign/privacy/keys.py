"""`campaign keys rotate`: every encrypted value moves to a new data key, in batches, resumably.

With the key file (embedded default): a new key is put first in the file (the old ones stay
second, to decrypt), every value not yet under it is re-encrypted BATCH rows per transaction, and
once none is left (media files of contacts included) the old keys are removed from the file.
Interrupted, the next run resumes where it stopped (values carry their key id) without making another key.

With keys from the environment the operator puts the new key first in CAMPAIGN_DATA_KEY
("new,old"); the run re-encrypts and then says the old key may be removed. The index key is not
rotated: the blind index of an erased number cannot be recomputed without the number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, Table, bindparam, func, or_, select, type_coerce, update
from sqlalchemy.engine import Engine

from audiences.models import Contact, ImportRejection
from campaign.blasts.models import Outbound
from campaign.core.config import Settings
from campaign.core.crypto import (
    SOURCE_FILE,
    Keyring,
    key_id,
    load_keyring,
    new_key,
    read_key_file,
    use_keyring,
    write_key_file,
)
from campaign.core.db import unit_of_work
from campaign.hotline.media_files import reencrypt_media, stale_media
from campaign.hotline.models import CaseNote, Inbound

BATCH = 2000
# Every encrypted column, by table (keep in step with the Encrypted columns of the models).
ENCRYPTED: list[tuple[Table, tuple[str, ...]]] = [
    (Contact.__table__, ("phone", "name")),
    (Inbound.__table__, ("body",)),
    (Outbound.__table__, ("body", "content_variables")),
    (CaseNote.__table__, ("body",)),
    (ImportRejection.__table__, ("value",)),
]


@dataclass
class Rotation:
    """What a rotation did."""

    key_id: str
    new_key: bool = False
    reencrypted: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    old_keys_in_environment: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "new_key": self.new_key,
            "reencrypted": self.reencrypted,
            "retired": self.retired,
            "old_keys_in_environment": self.old_keys_in_environment,
        }


def _stale(table: Table, column: str, ring: Keyring) -> Any:
    raw = type_coerce(table.c[column], String())
    return (raw != "") & raw.is_not(None) & ~raw.startswith(ring.current_id + "$", autoescape=True)


def pending(engine: Engine, ring: Keyring) -> int:
    """Values not yet under the current key."""
    total = 0
    with engine.connect() as connection:
        for table, columns in ENCRYPTED:
            condition = or_(*(_stale(table, c, ring) for c in columns))
            total += int(connection.scalar(select(func.count()).select_from(table).where(condition)) or 0)
    return total


def rotate(engine: Engine, settings: Settings, *, batch: int = BATCH) -> Rotation:
    """Rotates the data key (see the module's docstring). Each batch commits on its own."""
    ring = load_keyring(settings)
    use_keyring(ring)
    result = Rotation(ring.current_id)
    if (
        ring.source == SOURCE_FILE and ring.path is not None and not pending(engine, ring)
        and not stale_media(settings)
    ):
        current = read_key_file(ring.path)
        keys = [new_key(), *(_text(k) for k in current.data_keys)]
        write_key_file(ring.path, keys, _text(current.index_key))
        ring = read_key_file(ring.path)
        result = Rotation(ring.current_id, new_key=True)
    use_keyring(ring)
    for table, columns in ENCRYPTED:
        result.reencrypted[table.name] = _reencrypt(engine, ring, table, columns, batch=batch)
    result.reencrypted["inbound_media"] = reencrypt_media(settings)
    if pending(engine, ring) or stale_media(settings):  # written meanwhile under an old key: run again
        return result
    if ring.source == SOURCE_FILE and ring.path is not None and len(ring.data_keys) > 1:
        result.retired = [key_id(k) for k in ring.data_keys[1:]]
        write_key_file(ring.path, [_text(ring.data_keys[0])], _text(ring.index_key))
        use_keyring(read_key_file(ring.path))
    elif len(ring.data_keys) > 1:
        result.old_keys_in_environment = True
    return result


def _reencrypt(engine: Engine, ring: Keyring, table: Table, columns: tuple[str, ...], *, batch: int) -> int:
    done = 0
    raw = {c: type_coerce(table.c[c], String()) for c in columns}
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(f"new_{c}", type_=String()) for c in columns})
    )
    last = 0
    while True:
        with unit_of_work(engine) as session:
            rows = session.execute(
                select(table.c.id, *(raw[c].label(c) for c in columns))
                .where(table.c.id > last, or_(*(_stale(table, c, ring) for c in columns)))
                .order_by(table.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return done
            params = []
            for row in rows:
                param: dict[str, Any] = {"row_id": row.id}
                for c in columns:
                    value = getattr(row, c)
                    param[f"new_{c}"] = value if ring.is_current(value) else ring.encrypt(ring.decrypt(value))
                params.append(param)
            session.execute(statement, params)
            last = rows[-1].id
            done += len(rows)


def _text(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).decode()
