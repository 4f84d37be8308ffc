"""challenge standings ranked in memory: the progress table's value index goes, and
joined_at is only set by an opt-in join

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Standings are ranked by ``app.challenges.ChallengeBoards`` (in memory or in Redis), so the
index on (challenge_id, value), rewritten by every progress update, has no reader left. Catch-ups
look rows up by participant instead, through an index that changes only when a row is added.
Rows of automatic enrolment no longer carry a joined_at: shorter rows, fewer pages per commit.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("challenge_entry") as batch_op:
        batch_op.drop_index("ix_challenge_entry_standing")
        batch_op.create_index(
            "ix_challenge_entry_participant", ["kind", "participant_id"], unique=False
        )
        batch_op.alter_column("joined_at", existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    op.execute(
        "UPDATE challenge_entry SET joined_at = (SELECT created_at FROM challenge "
        "WHERE challenge.id = challenge_entry.challenge_id) WHERE joined_at IS NULL"
    )
    with op.batch_alter_table("challenge_entry") as batch_op:
        batch_op.alter_column("joined_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index("ix_challenge_entry_participant")
        batch_op.create_index(
            "ix_challenge_entry_standing", ["challenge_id", "value"], unique=False
        )
