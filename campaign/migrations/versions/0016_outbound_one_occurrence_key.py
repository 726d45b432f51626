"""outbound: one foreign key for (occurrence, step, campaign) instead of three; occurrences carry
their step's campaign, held to it by a (step, campaign) foreign key

Every planned row was checked three times, against occurrences, steps and campaigns: planning a
million recipients on PostgreSQL spent about 7 s of the server's 27 s on those checks (issue 15).
One composite key to occurrences (id, step_id, campaign_id) checks the same rows once, and also
that the three agree, which nothing checked before. Rows without an occurrence (a WhatsApp row's
SMS fallback, a hotline reply) are not checked by it; see Outbound's docstring.

A planned row whose step or campaign disagrees with its occurrence makes this migration fail
(PostgreSQL validates the new key; SQLite's foreign_key_check in env.py), rather than be kept.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_steps_id_campaign_id"), ["id", "campaign_id"])
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE occurrences SET campaign_id = (SELECT steps.campaign_id FROM steps WHERE steps.id = occurrences.step_id)"
    )
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.alter_column("campaign_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(batch_op.f("fk_occurrences_step_id_steps"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_occurrences_step_id_steps"), "steps", ["step_id", "campaign_id"], ["id", "campaign_id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_occurrences_id_step_id_campaign_id"), ["id", "step_id", "campaign_id"]
        )
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbound_occurrence_id_occurrences"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_outbound_campaign_id_campaigns"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_outbound_step_id_steps"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_occurrence_id_occurrences"), "occurrences",
            ["occurrence_id", "step_id", "campaign_id"], ["id", "step_id", "campaign_id"], ondelete="CASCADE",
        )
        # A key with a NULL part is not checked: a planned row names its step and campaign too.
        batch_op.create_check_constraint(
            batch_op.f("ck_outbound_occurrence_keys"),
            "occurrence_id IS NULL OR (step_id IS NOT NULL AND campaign_id IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbound_occurrence_keys"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_outbound_occurrence_id_occurrences"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_occurrence_id_occurrences"), "occurrences", ["occurrence_id"], ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_campaign_id_campaigns"), "campaigns", ["campaign_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_step_id_steps"), "steps", ["step_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_occurrences_id_step_id_campaign_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_occurrences_step_id_steps"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_occurrences_step_id_steps"), "steps", ["step_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_steps_id_campaign_id"), type_="unique")
