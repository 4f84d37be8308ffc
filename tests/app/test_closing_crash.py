"""A closing process killed (SIGKILL) after each unit of its work, then restarted: each close
record once, each tier bonus and badge once, balances right, frozen boards complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.badges import save_definition
from app.closing import LEASE, close_period
from app.db import Database
from app.ingest import ingest_events
from app.ledger import balance_of
from app.models import BadgeAward, LedgerEntry, PeriodClose, PeriodSnapshot, Program, TierBonus
from app.programs import current_program
from app.scheduler import wire_features
from tests.factories import make_world, sale

NOW = datetime(2026, 11, 1, 0, 0, 5, tzinfo=UTC)
TIERS = {"metric": "units", "tiers": [{"name": "Bronze", "threshold": 2, "bonus_points": 50},
                                      {"name": "Gold", "threshold": 5, "bonus_points": 200}]}  # fmt: skip
# After a unit committed, in the middle of one (its transaction dies with the process), and
# after an after-close step committed but before the close recorded it.
POINTS = ("boards", "tier_bonuses:uncommitted", "streaks", "step:badges:before-record")


def _world(db: Database) -> Program:
    world = make_world(db, partners=3, reps_per_partner=2, tiers=TIERS)
    save_definition(db, world.program, {"code": "top", "name": "Top of the Month",
                    "repeat": "period", "levels": [{"name": "gold", "threshold": 1}],
                    "criterion": {"kind": "top_n", "board_metric": "units"}}, NOW)  # fmt: skip
    events = [
        sale("a", units=6, partner="PT000", rep="R00000", occurred_at="2026-10-03T10:00:00+07:00"),
        sale("b", units=3, partner="PT000", rep="R00001", occurred_at="2026-10-04T10:00:00+07:00"),
        sale("c", units=1, partner="PT001", rep="R00100", occurred_at="2026-10-31T23:59:59+07:00"),
    ]
    assert ingest_events(db, world.program, "erp", events, NOW).accepted == 3
    return world.program


def _run_close(url: str, crash_after: str | None) -> int:
    """The close in a process of its own (``python -m`` this module), as the scheduler runs it."""
    args = [sys.executable, "-m", "tests.app.test_closing_crash", url, crash_after or ""]
    return subprocess.run(args, timeout=120, env={**os.environ, "PYTHONPATH": "."}).returncode


@pytest.mark.parametrize("point", POINTS)
def test_a_close_killed_after_each_unit_finishes_once_when_restarted(
    any_db: Database, point: str
) -> None:
    db = any_db
    program = _world(db)
    before = {code: balance_of(db.session(), rep_code=code) for code in ("R00000", "R00001")}
    assert _run_close(db.url, point) == -signal.SIGKILL
    with db.session() as s:
        record = s.execute(sa.select(PeriodClose)).scalar_one()
    assert record.state == "started"
    assert _run_close(db.url, None) == 0  # the restart finishes it
    wire_features()
    later = NOW + timedelta(days=1)
    assert close_period(db, program, "2026-10", later).status == "already_closed"
    with db.session() as s:
        records = (
            s.execute(sa.select(PeriodClose).where(col(PeriodClose.period_key) == "2026-10"))
            .scalars()
            .all()
        )
        assert [(r.state, r.attempts) for r in records] == [("finished", 2)]
        bonuses = sorted(
            s.execute(
                sa.select(col(TierBonus.tier), sa.func.count()).group_by(col(TierBonus.tier))
            ).all()
        )
        assert bonuses == [("Bronze", 2), ("Gold", 1)]  # R00000: Bronze and Gold; R00001: Bronze
        bonus_entries = s.execute(
            sa.select(sa.func.count())
            .select_from(LedgerEntry)
            .where(col(LedgerEntry.kind) == "bonus")
        ).scalar_one()
        assert bonus_entries == 3
        awards = s.execute(
            sa.select(col(BadgeAward.participant_id), col(BadgeAward.period_key))
        ).all()
        assert len(awards) == len(set(awards)) >= 1
        # Boards frozen once: every (board, participant) exactly once.
        rows = s.execute(
            sa.select(col(PeriodSnapshot.audience), col(PeriodSnapshot.scope), col(PeriodSnapshot.metric),
                      col(PeriodSnapshot.participant_id))
        ).all()  # fmt: skip
        assert len(rows) == len(set(rows)) > 0
        assert balance_of(s, rep_code="R00000") == before["R00000"] + 250
        assert balance_of(s, rep_code="R00001") == before["R00001"] + 50


def _main() -> None:
    url, crash_after = sys.argv[1], sys.argv[2] or None
    db = Database(url)
    wire_features()
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    # A restart comes later than the lease of the dead process (SQLite has no advisory lock).
    now = NOW if crash_after else NOW + LEASE + timedelta(seconds=1)
    outcome = close_period(db, program, "2026-10", now, crash_after=crash_after)
    assert outcome.status in ("closed", "already_closed"), outcome.status


if __name__ == "__main__":
    _main()
