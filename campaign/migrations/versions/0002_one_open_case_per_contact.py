"""one open hotline case per contact: a partial unique index (duplicates merged first)

Concurrent messages from one number could open two cases for the same contact. Before the index
is created, the open cases of each such contact are merged into the oldest one: its messages,
auto-replies and notes move to it, it keeps the highest priority, the oldest waiting time and an
assignee, and the others are marked resolved (nothing is deleted).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_CASE_WHERE = "status IN ('new', 'open')"

cases = sa.table(
    "cases",
    sa.column("id", sa.Integer),
    sa.column("contact_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("priority", sa.String),
    sa.column("assignee_id", sa.Integer),
    sa.column("campaign_id", sa.Integer),
    sa.column("waiting_since", campaign.core.db.UTCDateTime()),
    sa.column("updated_at", campaign.core.db.UTCDateTime()),
    sa.column("resolved_at", campaign.core.db.UTCDateTime()),
)
threads = [
    sa.table(name, sa.column("case_id", sa.Integer)) for name in ("inbound", "outbound", "case_notes")
]


def merge_duplicate_open_cases(connection: sa.Connection, now: datetime) -> int:
    """Merges each contact's open cases into its oldest open case; returns how many were merged."""
    open_ = cases.c.status.in_(("new", "open"))
    rows = connection.execute(
        sa.select(cases).where(open_).order_by(cases.c.contact_id, cases.c.id)
    ).all()
    by_contact: dict[int, list[sa.Row]] = {}
    for row in rows:
        by_contact.setdefault(row.contact_id, []).append(row)
    merged = 0
    for group in by_contact.values():
        if len(group) < 2:
            continue
        keep, others = group[0], group[1:]
        other_ids = [row.id for row in others]
        for table in threads:
            connection.execute(
                sa.update(table).where(table.c.case_id.in_(other_ids)).values(case_id=keep.id)
            )
        waiting = [row.waiting_since for row in group if row.waiting_since is not None]
        connection.execute(
            sa.update(cases)
            .where(cases.c.id == keep.id)
            .values(
                priority="urgent" if any(row.priority == "urgent" for row in group) else keep.priority,
                waiting_since=min(waiting) if waiting else None,
                assignee_id=next((row.assignee_id for row in group if row.assignee_id), None),
                campaign_id=next((row.campaign_id for row in group if row.campaign_id), None),
                updated_at=now,
            )
        )
        connection.execute(
            sa.update(cases)
            .where(cases.c.id.in_(other_ids))
            .values(status="resolved", resolved_at=now, waiting_since=None, updated_at=now)
        )
        merged += len(others)
    return merged


def upgrade() -> None:
    merge_duplicate_open_cases(op.get_bind(), datetime.now(UTC))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "uq_cases_open_contact", ["contact_id"], unique=True,
            postgresql_where=sa.text(OPEN_CASE_WHERE), sqlite_where=sa.text(OPEN_CASE_WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("uq_cases_open_contact")
