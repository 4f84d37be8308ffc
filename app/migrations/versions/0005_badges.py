"""badges: definitions, awards, Open Badges assertions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "badge_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "code", name="uq_badge_definition"),
    )
    op.create_table(
        "badge_award",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=24), nullable=False),
        sa.Column("earned_in", sa.String(length=16), nullable=False),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient_type", sa.String(length=8), nullable=False),
        sa.Column("recipient_hash", sa.String(length=80), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["badge_id"], ["badge_definition.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
        sa.UniqueConstraint(
            "badge_id", "level", "kind", "participant_id", "period_key", name="uq_badge_award"
        ),
    )
    with op.batch_alter_table("badge_award", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_badge_award_program_id"), ["program_id"], unique=False
        )
        batch_op.create_index(
            "ix_badge_award_participant", ["kind", "participant_id"], unique=False
        )
    op.create_table(
        "badge_watermark",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("challenge_result_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("program_id"),
    )


def downgrade() -> None:
    op.drop_table("badge_watermark")
    with op.batch_alter_table("badge_award", schema=None) as batch_op:
        batch_op.drop_index("ix_badge_award_participant")
        batch_op.drop_index(batch_op.f("ix_badge_award_program_id"))
    op.drop_table("badge_award")
    op.drop_table("badge_definition")
