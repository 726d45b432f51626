"""contacts.phone loses its unique index: phone_index (the blind index) keeps numbers unique

Since 0008 `phone` holds a ciphertext with a random nonce: its unique index could never refuse a
row, and keeping ~90-byte random keys in order made every bulk import pay for it (issue 12: about
a quarter of the import's time with encryption). On SQLite dropping the constraint rebuilds the
table; the environment (env.py) runs SQLite migrations with foreign keys off and checks them after,
so the rebuild cannot cascade into the rows that point at contacts. This migration refuses to
rebuild when foreign keys are on.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _require_foreign_keys_off() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding contacts with foreign keys on would delete the rows that point at it")


def upgrade() -> None:
    _require_foreign_keys_off()
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contacts_phone", type_="unique")


def downgrade() -> None:
    _require_foreign_keys_off()
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_contacts_phone", ["phone"])
