"""sender_rates: one rate limit per sender shared by every scheduler process (campaign.blasts.slots)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sender_rates",
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sender", name=op.f("pk_sender_rates")),
    )


def downgrade() -> None:
    op.drop_table("sender_rates")
