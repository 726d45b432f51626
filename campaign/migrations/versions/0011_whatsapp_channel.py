"""WhatsApp: outbound/inbound channel, templates, voice notes, SMS fallback; WhatsApp consent and
a preferred channel per contact; a step's fallback channel and recording

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("whatsapp_consent_at", campaign.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("preferred_channel", sa.String(length=10), nullable=True))
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_fallback", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("audio", sa.String(length=80), nullable=True))
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), server_default="sms", nullable=False)
        )
        batch_op.create_index(
            "ix_inbound_contact_channel_received", ["contact_id", "channel", "received_at"], unique=False
        )
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), server_default="sms", nullable=False)
        )
        batch_op.add_column(sa.Column("content_sid", sa.String(length=64), nullable=True))
        # Encrypted (campaign.core.crypto.EncryptedText, stored as text): may hold personal data.
        batch_op.add_column(sa.Column("content_variables", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("media_recording_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fallback_channel", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("fallback_of", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_outbound_fallback_of"), ["fallback_of"])
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_fallback_of_outbound"), "outbound", ["fallback_of"], ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbound_fallback_of_outbound"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_outbound_fallback_of"), type_="unique")
        batch_op.drop_column("fallback_of")
        batch_op.drop_column("fallback_channel")
        batch_op.drop_column("media_recording_id")
        batch_op.drop_column("content_variables")
        batch_op.drop_column("content_sid")
        batch_op.drop_column("channel")
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_contact_channel_received")
        batch_op.drop_column("channel")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_column("audio")
        batch_op.drop_column("channel_fallback")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("preferred_channel")
        batch_op.drop_column("whatsapp_consent_at")
