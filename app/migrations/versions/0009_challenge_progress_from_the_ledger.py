"""challenge progress derived from the ledger: the participant index of challenge_entry goes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Challenge progress is no longer written per event: each process folds ledger entries into its
challenges (``app.challenges.ChallengeProgress``). ``challenge_entry`` keeps who joined an
opt-in challenge and a settled challenge's final standings, so nothing looks its rows up by
participant any more. Rows written before this revision for challenges still running are left
as they are: they are not read, and settling overwrites them with the folded standings.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("challenge_entry") as batch_op:
        batch_op.drop_index("ix_challenge_entry_participant")


def downgrade() -> None:
    # Revision 0008's code counts progress into the table from the next event on; what was
    # sold in between is in the ledger, not in the table.
    with op.batch_alter_table("challenge_entry") as batch_op:
        batch_op.create_index(
            "ix_challenge_entry_participant", ["kind", "participant_id"], unique=False
        )
