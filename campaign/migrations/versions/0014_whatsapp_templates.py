"""messages: WhatsApp template category per message, Twilio Content SID and variables per translation

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("whatsapp_category", sa.String(length=20), nullable=True))
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sid", sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column("content_variables", campaign.core.db.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.drop_column("content_variables")
        batch_op.drop_column("content_sid")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("whatsapp_category")
