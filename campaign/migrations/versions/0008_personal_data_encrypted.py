"""personal data encrypted at rest: phones, names, bodies, notes, rejected values; blind index; erasures

Existing rows are encrypted here, in keyset batches, with the keys `campaign init` (or the
environment) provides (campaign/core/crypto.py). Contacts get `phone_index`, the blind index that
now finds and keeps phone numbers unique. On SQLite nothing rebuilds a table: a rebuild drops the
old one, and ON DELETE CASCADE would empty the tables that point at it. So `contacts` keeps its
unique constraint on `phone` (ciphertexts never collide) and its declared lengths (SQLite does not
enforce them); PostgreSQL drops the lengths, which ciphertexts exceed.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 2000
# table -> its columns holding personal text
ENCRYPTED = {
    "contacts": ("phone", "name"),
    "inbound": ("body",),
    "outbound": ("body",),
    "case_notes": ("body",),
    "import_rejections": ("value",),
}


def _convert(table: str, columns: tuple[str, ...], convert: Callable[[str], str], *, index: bool) -> None:
    """Rewrites `columns` of every row through `convert`, BATCH rows at a time (keyset on id);
    with `index`, also sets contacts.phone_index from the plain phone."""
    from campaign.core.crypto import blind_index

    connection = op.get_bind()
    names = ("id", *columns)
    source = sa.table(
        table, sa.column("id", sa.Integer), *(sa.column(n, sa.String) for n in (*columns, "phone_index"))
    )
    targets: dict[str, Any] = {n: sa.bindparam(f"new_{n}") for n in columns}
    if index:
        targets["phone_index"] = sa.bindparam("new_phone_index")
    statement = source.update().where(source.c.id == sa.bindparam("row_id")).values(**targets)
    done: dict[str, str] = {}  # outbound: one blast text for many people, converted once

    def once(value: str | None) -> str | None:
        if value is None or value == "":
            return value
        found = done.get(value)
        if found is None:
            found = convert(value)
            if len(done) < 10_000:
                done[value] = found
        return found

    last = 0
    while True:
        rows = connection.execute(
            sa.select(*(source.c[n] for n in names))
            .where(source.c.id > last)
            .order_by(source.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        params: list[dict[str, Any]] = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            param = {"row_id": values["id"], **{f"new_{n}": once(values[n]) for n in columns}}
            if index:
                param["new_phone_index"] = blind_index(values["phone"])
            params.append(param)
        connection.execute(statement, params)


def upgrade() -> None:
    from campaign.core.crypto import keyring

    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_index", sa.String(length=32), nullable=False),
        sa.Column("erased_at", campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint("phone_index", name=op.f("uq_erasures_phone_index")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_index", sa.String(length=32), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymized_at", campaign.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("contacts", "phone", type_=sa.String(), existing_nullable=False)
        op.alter_column("contacts", "name", type_=sa.String(), existing_nullable=True)
    ring = keyring()
    for table, columns in ENCRYPTED.items():
        _convert(table, columns, ring.encrypt, index=table == "contacts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("uq_contacts_phone_index", ["phone_index"], unique=True)


def downgrade() -> None:
    from campaign.core.crypto import keyring

    ring = keyring()
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("uq_contacts_phone_index")
    for table, columns in ENCRYPTED.items():
        _convert(table, columns, ring.decrypt, index=False)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("contacts", "phone", type_=sa.String(length=20), existing_nullable=False)
        op.alter_column("contacts", "name", type_=sa.String(length=200), existing_nullable=True)
        op.drop_column("contacts", "phone_index")
        op.drop_column("cases", "anonymized_at")
    op.drop_table("erasures")
