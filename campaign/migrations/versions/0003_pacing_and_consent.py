"""pacing and consent: a campaign's own spacing of discreet messages; who recorded a consent event

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discreet_min_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_column("recorded_by")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("discreet_min_days")
