"""challenges: definitions, enrolment, progress, settlement

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("skus", sa.JSON(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=True),
        sa.Column("region_ids", sa.JSON(), nullable=False),
        sa.Column("league_ids", sa.JSON(), nullable=False),
        sa.Column("partner_ids", sa.JSON(), nullable=False),
        sa.Column("team_by", sa.String(length=8), nullable=True),
        sa.Column("team_score", sa.String(length=8), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=True),
        sa.Column("winners", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolment", sa.String(length=8), nullable=False),
        sa.Column("reward_points", sa.Integer(), nullable=False),
        sa.Column("reward_badge", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("challenge", schema=None) as batch_op:
        batch_op.create_index("ix_challenge_program_status", ["program_id", "status"], unique=False)
        batch_op.create_index(
            "ix_challenge_program_revision", ["program_id", "revision"], unique=False
        )

    op.create_table(
        "challenge_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("value_seq", sa.BigInteger(), nullable=False),
        sa.Column("reached_seq", sa.BigInteger(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["challenge_id"], ["challenge.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_id", "kind", "participant_id", name="uq_challenge_entry"),
    )
    with op.batch_alter_table("challenge_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_challenge_entry_standing", ["challenge_id", "value"], unique=False
        )

    op.create_table(
        "challenge_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["challenge_id"], ["challenge.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_id", "kind", "participant_id", name="uq_challenge_result"),
    )
    with op.batch_alter_table("challenge_result", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_challenge_result_challenge_id"), ["challenge_id"], unique=False
        )

    op.create_table(
        "challenge_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["challenge_id"], ["challenge.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_id", "user_id", "kind", name="uq_challenge_notice"),
    )
    with op.batch_alter_table("challenge_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenge_notice_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("challenge_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_challenge_notice_user_id"))
    op.drop_table("challenge_notice")
    with op.batch_alter_table("challenge_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_challenge_result_challenge_id"))
    op.drop_table("challenge_result")
    with op.batch_alter_table("challenge_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_challenge_entry_standing")
    op.drop_table("challenge_entry")
    with op.batch_alter_table("challenge", schema=None) as batch_op:
        batch_op.drop_index("ix_challenge_program_revision")
        batch_op.drop_index("ix_challenge_program_status")
    op.drop_table("challenge")
