"""Period closes driven by a controlled clock: two years of daily, weekly and monthly closes in
four time zones (DST, +05:45), each period closed exactly once and at the right moment, and the
events at 23:59:59.999 and 00:00:00 frozen in the right period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.closing import CloseRefused, close_due_periods, close_period, frozen_board
from app.db import Database
from app.ingest import ingest_events
from app.models import PeriodClose, PeriodSnapshot, Program
from app.scheduler import close_trigger
from game.periods import Cadence, local_midnight_utc, periods_between
from game.streaks import Streak
from tests.factories import make_world, sale

ZONES = ("Asia/Jakarta", "Europe/Berlin", "America/Los_Angeles", "Asia/Kathmandu")
US = timedelta(microseconds=1)
# The program's first and last local days (a week may start before or end after them).
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2027, 12, 31)


def _two_year_program(db: Database, zone: str, cadence: str) -> Program:
    make_world(db, partners=1, reps_per_partner=1, timezone=zone, cadence=cadence)
    tz = ZoneInfo(zone)
    with db.write() as s:
        program = s.execute(sa.select(Program)).scalar_one()
        program.starts_at = local_midnight_utc(date(2026, 1, 1), tz)
        program.ends_at = local_midnight_utc(date(2028, 1, 1), tz)
        s.add(program)
    return program


def _local(day: date, zone: str, hour: int, minute: int, second: int, micro: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro,
                    tzinfo=ZoneInfo(zone)).isoformat()  # fmt: skip


@pytest.mark.parametrize("cadence", [Cadence.DAY, Cadence.WEEK, Cadence.MONTH])
@pytest.mark.parametrize("zone", ZONES)
def test_two_years_of_closes_skip_no_period_and_double_none(
    sqlite_db: Database, zone: str, cadence: Cadence
) -> None:
    """At one microsecond before each period's end nothing of it closes, at its end it
    closes, asked again it is already closed; events at the last millisecond of a period and
    at the first instant of it land in its frozen boards (daily: every 61st day is checked)."""
    if True:
        db = sqlite_db
        program = _two_year_program(db, zone, cadence.value)
        periods = periods_between(program.starts_at, program.ends_at, cadence, ZoneInfo(zone))
        # Counted from the calendar alone: one period per day, ISO week or month touched.
        days = [date(2026, 1, 1) + timedelta(days=n) for n in range(730)]
        expected = {
            Cadence.DAY: len(days),
            Cadence.WEEK: len({d.isocalendar()[:2] for d in days}),
            Cadence.MONTH: 24,
        }[cadence]
        assert len(periods) == expected
        closed: list[str] = []
        for i, period in enumerate(periods):
            sampled = cadence != Cadence.DAY or i % 61 == 0
            if sampled:
                ingest_events(db, program, "erp", [
                    sale(f"{period.key}-last", units=2, occurred_at=_local(min(period.last_day, LAST_DAY), zone, 23, 59, 59, 999_000)),
                    sale(f"{period.key}-first", units=3, occurred_at=_local(max(period.first_day, FIRST_DAY), zone, 0, 0, 0)),
                ], period.end - US)  # fmt: skip
                assert close_due_periods(db, program, period.end - US) == []
            outcomes = close_due_periods(db, program, period.end)
            assert [(o.period_key, o.status) for o in outcomes] == [(period.key, "closed")]
            closed.append(period.key)
            if sampled:
                assert close_due_periods(db, program, period.end) == []
                assert close_period(db, program, period.key, period.end).status == "already_closed"
                with db.session() as s:
                    board = frozen_board(s, program, period.key, "reps", "everyone", "units")
                # 3 units at 00:00:00 local plus 2 at 23:59:59.999 local: both in this period.
                assert [(rank, value) for rank, _pid, value, _seq in board] == [(1, 5)], (
                    cadence, period.key)  # fmt: skip
        with db.session() as s:
            records = s.execute(
                sa.select(col(PeriodClose.period_key), col(PeriodClose.state))
                .where(col(PeriodClose.program_id) == program.id)
                .order_by(col(PeriodClose.started_at), col(PeriodClose.id))
            ).all()
        assert [r[0] for r in records] == [p.key for p in periods] == closed
        assert {r[1] for r in records} == {"finished"}
        # After the program's end nothing more is due, however late the clock.
        assert close_due_periods(db, program, program.ends_at + timedelta(days=400)) == []


@pytest.mark.parametrize("cadence", [Cadence.DAY, Cadence.WEEK, Cadence.MONTH])
@pytest.mark.parametrize("zone", ZONES)
def test_the_close_trigger_fires_once_just_after_every_period_end(
    sqlite_db: Database, zone: str, cadence: Cadence
) -> None:
    program = _two_year_program(sqlite_db, zone, cadence.value)
    periods = periods_between(program.starts_at, program.ends_at, cadence, ZoneInfo(zone))
    trigger = close_trigger(program)
    fires, previous, at = [], None, program.starts_at + timedelta(minutes=1)
    while True:
        fire = trigger.get_next_fire_time(previous, at)
        if fire is None or fire > periods[-1].end + timedelta(hours=1):
            break
        fires.append(fire)
        previous, at = fire, fire + timedelta(seconds=1)
    ends = [p.end for p in periods]
    assert len(fires) == len(ends)
    for end, fire in zip(ends, fires, strict=True):
        assert fire - end == timedelta(seconds=5), (end, fire)


def test_a_late_event_is_held_then_applied_with_the_changes_audited(any_db: Database) -> None:
    from app.closing import apply_adjustment, pending_adjustments, reject_adjustment
    from app.models import AuditEntry

    db = any_db
    program = make_world(db).program
    ingest_events(db, program, "erp", [sale("a", units=2, occurred_at="2026-10-05T10:00:00+07:00")],
                  datetime(2026, 10, 6, tzinfo=UTC))  # fmt: skip
    now = datetime(2026, 11, 2, tzinfo=UTC)
    close_due_periods(db, program, now)
    late = [
        sale("late", units=5, rep="R00001", occurred_at="2026-10-30T10:00:00+07:00"),
        sale("spam", units=9, rep="R00001", occurred_at="2026-10-30T11:00:00+07:00"),
    ]
    report = ingest_events(db, program, "erp", late, now)
    assert (report.accepted, len(report.held)) == (0, 2)
    assert ingest_events(db, program, "erp", late[:1], now).duplicates == 1  # held once
    with db.session() as s:
        held = {a.external_id: a for a in pending_adjustments(s, program)}
        assert frozen_board(s, program, "2026-10", "reps", "everyone", "units")[0][2] == 2
    with pytest.raises(CloseRefused):
        reject_adjustment(db, program, held["spam"].id or 0, None, " ", now)
    reject_adjustment(db, program, held["spam"].id or 0, None, "test data", now)
    outcome = apply_adjustment(db, program, held["late"].id or 0, None, now)
    assert outcome.status == "closed" and outcome.record is not None
    assert outcome.record.generation == 2
    assert any(c["board"] == "reps|everyone|units" and c["value_after"] == 5
               for c in outcome.record.changes)  # fmt: skip
    with db.session() as s:
        board = frozen_board(s, program, "2026-10", "reps", "everyone", "units")
        assert [value for _r, _p, value, _s in board] == [5, 2]
        assert pending_adjustments(s, program) == []
        actions = set(s.execute(sa.select(AuditEntry.action)).scalars())
        stale = s.execute(sa.select(sa.func.count()).select_from(PeriodSnapshot)
                          .where(col(PeriodSnapshot.generation) == 1)).scalar_one()  # fmt: skip
    assert {
        "period_reopened",
        "period_reclosed",
        "adjustment_applied",
        "adjustment_rejected",
    } <= actions
    assert stale == 0


def test_streaks_persist_at_close_and_a_manager_repairs_an_outage(sqlite_db: Database) -> None:
    from app.streaks import repair_streak, stored_streak

    db = sqlite_db
    program = make_world(db).program
    for month in (1, 2, 4):  # no sale in March: the streak breaks
        ingest_events(db, program, "erp", [sale(f"m{month}", occurred_at=f"2026-0{month}-10T10:00:00+07:00")],
                      datetime(2026, month, 11, tzinfo=UTC))  # fmt: skip
    close_due_periods(db, program, datetime(2026, 5, 1, tzinfo=UTC))
    with db.session() as s:
        assert stored_streak(s, program, "rep", 1) == Streak(1, 2)
    with pytest.raises(ValueError):
        repair_streak(db, program, "2026-03", "", None, datetime(2026, 5, 2, tzinfo=UTC))
    changed = repair_streak(db, program, "2026-03", "ERP outage 3-31 March", None,
                            datetime(2026, 5, 2, tzinfo=UTC), kind="rep", participant_id=1)  # fmt: skip
    assert [(k, p, after) for k, p, _before, after in changed] == [("rep", 1, Streak(4, 4))]
    # The next close goes on from the repaired streak (May: no sale, so it ends at 0).
    close_due_periods(db, program, datetime(2026, 6, 1, tzinfo=UTC))
    with db.session() as s:
        assert stored_streak(s, program, "rep", 1) == Streak(0, 4)
