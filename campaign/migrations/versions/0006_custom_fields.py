"""custom fields have a type: the registry of imported custom fields (number, date, text)

Existing databases learn the custom fields their contacts already hold: a key whose every value
is a JSON number becomes a number field, one whose every value is ISO date text (YYYY-MM-DD) a
date field, any other a text field. Nothing in the contacts is changed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_KEYS = """
SELECT j.key,
       COUNT(*),
       SUM(CASE WHEN j.type IN ('integer', 'real') THEN 1 ELSE 0 END),
       SUM(CASE WHEN j.type = 'text' AND j.value GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
                THEN 1 ELSE 0 END)
FROM contacts, json_each(contacts.custom) AS j
GROUP BY j.key
"""
POSTGRES_KEYS = r"""
SELECT e.key,
       COUNT(*),
       SUM(CASE WHEN jsonb_typeof(e.value) = 'number' THEN 1 ELSE 0 END),
       SUM(CASE WHEN jsonb_typeof(e.value) = 'string' AND (e.value #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$'
                THEN 1 ELSE 0 END)
FROM contacts, jsonb_each(contacts.custom::jsonb) AS e
GROUP BY e.key
"""


def upgrade() -> None:
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created_at", campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_fields_key")),
    )
    connection = op.get_bind()
    query = POSTGRES_KEYS if connection.dialect.name == "postgresql" else SQLITE_KEYS
    table = sa.table(
        "custom_fields",
        sa.column("key", sa.String),
        sa.column("type", sa.String),
        sa.column("source", sa.String),
        sa.column("created_at", campaign.core.db.UTCDateTime()),
    )
    now = datetime.now(UTC)
    rows = []
    for key, total, numbers, dates in connection.execute(sa.text(query)):
        kind = "number" if numbers == total else "date" if dates == total else "text"
        rows.append({"key": str(key)[:64], "type": kind, "source": "existing contacts", "created_at": now})
    if rows:
        connection.execute(sa.insert(table), rows)


def downgrade() -> None:
    op.drop_table("custom_fields")
