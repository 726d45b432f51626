"""recordings: a radio spot's recording per language, with its checksum, measures and voice note

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign.core.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_format", sa.String(length=8), nullable=False),
        sa.Column("codec", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("lufs", sa.Double(), nullable=True),
        sa.Column("peak_dbfs", sa.Double(), nullable=False),
        sa.Column("rms_dbfs", sa.Double(), nullable=False),
        sa.Column("original_path", sa.String(length=200), nullable=False),
        sa.Column("voice_path", sa.String(length=200), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", campaign.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calibration_id"], ["radio_calibrations.id"],
            name=op.f("fk_recordings_calibration_id_radio_calibrations"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_recordings_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("message_id", "language", name=op.f("uq_recordings_message_id_language")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_sha256"))
    op.drop_table("recordings")
