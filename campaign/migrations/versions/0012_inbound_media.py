"""inbound_media: voice notes and images sent by contacts (campaign.hotline.media)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("declared_type", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", campaign.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("received_at", campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", campaign.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", campaign.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbound_id"], ["inbound.id"], name=op.f("fk_inbound_media_inbound_id_inbound"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_media")),
        sa.UniqueConstraint("inbound_id", "position", name=op.f("uq_inbound_media_inbound_id_position")),
    )
    op.create_index(op.f("ix_inbound_media_inbound_id"), "inbound_media", ["inbound_id"], unique=False)
    op.create_index("ix_inbound_media_status_next", "inbound_media", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbound_media_status_next", table_name="inbound_media")
    op.drop_index(op.f("ix_inbound_media_inbound_id"), table_name="inbound_media")
    op.drop_table("inbound_media")
