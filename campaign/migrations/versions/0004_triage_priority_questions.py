"""triage: inbound cues, case questions (unclear opt-out, re-subscribe); priority 'high' needs no DDL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cues', campaign.core.db.JSONType, nullable=True))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('question', sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column('question_at', campaign.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('question_at')
        batch_op.drop_column('question')
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_column('cues')
