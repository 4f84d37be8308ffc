"""Period close: at the end of a period its boards are frozen into a snapshot with ranks, tier
bonuses are paid, streaks move on and the after-close steps run (placement badges, ...) —
exactly once, even with several schedulers and even when a process dies half way.

How "exactly once" holds:
- one ``period_close`` row per (program, period), unique in the database; a close is claimed
  by creating or taking over that row;
- on PostgreSQL a session advisory lock per program: one process closes a program's periods at
  a time, and a killed process's lock goes with its connection; on SQLite, whose writers are
  serialised anyway, a lease on the close row stands in for it;
- the work is cut into units (a group of boards, the tier bonuses, the streaks, each
  after-close step); each unit commits together with the counter that says it is done, so a
  restart resumes after the last committed unit and never redoes one;
- money-like effects are unique rows too (a tier bonus per period, rep and tier; a badge award
  per badge, level, participant and period), so even a redone unit cannot pay twice.

The close is plain code called with ``now``: the scheduler (``app/scheduler.py``), the CLI
(``podium close-period``), the admin page and the tests all drive the same function.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app.db import Database, lock_program_writes
from app.ingest import ALL_TIME, TOTAL_COLUMNS, TOTAL_UPSERT, ingest_events
from app.models import (
    AuditEntry,
    LedgerEntry,
    PendingAdjustment,
    PeriodClose,
    PeriodSnapshot,
    PeriodTotal,
    Program,
    User,
)
from app.programs import rules_of
from app.streaks import persist_streaks
from game.boards import BASIS_POINTS, Audience, Metric, ScopeKind
from game.ledger import EntryKind
from game.periods import (
    Cadence,
    Period,
    next_period,
    parse_period_key,
    period_of,
    periods_between,
)

log = logging.getLogger(__name__)

CLOSE_LOCK = 0x636C6F  # advisory lock class for a program's closes ("clo")
LEASE = timedelta(minutes=2)  # SQLite: how long a close stays claimed without progress
MAX_CHANGES = 200  # differences kept on a re-close (the count is always complete)

# ---------------------------------------------------------------------------------------------
# Extension points: steps after the boards are frozen, and periodic jobs.


CloseStepFn = Callable[[Database, Program, str, datetime], int]


@dataclass(frozen=True)
class CloseStep:
    """Runs once the period's boards are frozen; returns how many things it awarded. It must
    be idempotent (its own unique keys), because a crash after its commit and before the close
    records it done makes the restart run it again."""

    name: str
    run: CloseStepFn


CLOSE_STEPS: list[CloseStep] = []


def register_close_step(name: str, run: CloseStepFn) -> None:
    """Add (or replace, by name) a step run at every period close, in registration order."""
    CLOSE_STEPS[:] = [s for s in CLOSE_STEPS if s.name != name] + [CloseStep(name, run)]


# ---------------------------------------------------------------------------------------------
# Errors and outcomes


class CloseRefused(ValueError):
    """A close or reopen that cannot be done, with a sentence saying why: an English message id
    with ``%(name)s`` values, shown in the reader's language by ``text``."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values)
        self.message, self.values = message, values

    def text(self, lang: str) -> str:
        from app.i18n import gettext

        return gettext(lang, self.message, **self.values)


@dataclass
class CloseOutcome:
    period_key: str
    status: str  # closed | already_closed | busy | reopened_waits
    record: PeriodClose | None = None


@dataclass
class Progress:
    """What a running close reports after each unit (the CLI's bar, the admin page)."""

    done: int
    total: int
    unit: str


ProgressFn = Callable[[Progress], None]


# ---------------------------------------------------------------------------------------------
# The frozen boards: one INSERT ... SELECT ... RANK() OVER (...) per audience and scope kind.


@dataclass(frozen=True)
class BoardGroup:
    audience: Audience
    scope: ScopeKind

    @property
    def name(self) -> str:
        return f"boards:{self.audience.value}:{self.scope.value}"


BOARD_GROUPS = (
    *(BoardGroup(Audience.REPS, s) for s in ScopeKind),
    *(BoardGroup(Audience.PARTNERS, s) for s in ScopeKind if s != ScopeKind.TEAM),
)
KIND = {Audience.REPS: "rep", Audience.PARTNERS: "partner"}
SCOPE_SQL = {
    ScopeKind.EVERYONE: "'everyone'",
    ScopeKind.REGION: "'region:' || g.code",
    ScopeKind.LEAGUE: "'league:' || l.code",
    ScopeKind.TEAM: "'team:' || p.code",
}


def _floor_div(numerator: str, denominator: str) -> str:
    """Integer division rounded down, as ``game.boards.percentage`` does (SQL truncates)."""
    return (
        f"CASE WHEN {numerator} >= 0 THEN ({numerator}) / {denominator} "
        f"ELSE -((-({numerator}) + {denominator} - 1) / {denominator}) END"
    )


def _metric_sql(metric: Metric) -> tuple[str, str, str]:
    """(value expression, seq expression, extra condition) of a board metric over ``t``."""
    match metric:
        case Metric.POINTS:
            return "t.points", "t.points_seq", ""
        case Metric.UNITS:
            return "t.units", "t.units_seq", ""
        case Metric.REVENUE:
            return "t.revenue_minor", "t.revenue_seq", ""
        case Metric.TARGET_PCT:
            value = _floor_div(f"t.revenue_minor * {BASIS_POINTS}", "tg.revenue_minor")
            return value, "t.revenue_seq", " AND tg.revenue_minor > 0"
        case Metric.GROWTH_PCT:
            value = _floor_div(
                f"(t.revenue_minor - b.revenue_minor) * {BASIS_POINTS}", "b.revenue_minor"
            )
            return value, "t.revenue_seq", " AND b.revenue_minor > 0"


def board_rows_sql(group: BoardGroup, with_baseline: bool) -> str:
    """Every (audience, scope, metric, kind, participant, value, seq) of a group of boards,
    exactly the rows ``app.boards.load_rows`` ranks (bound: :program, :period, :base)."""
    kind = KIND[group.audience]
    joins = ""
    if group.scope != ScopeKind.EVERYONE:
        if group.audience == Audience.REPS:
            joins = " JOIN rep r ON r.id = t.participant_id JOIN partner p ON p.id = r.partner_id"
        else:
            joins = " JOIN partner p ON p.id = t.participant_id"
        joins += {
            ScopeKind.REGION: " JOIN region g ON g.id = p.region_id",
            ScopeKind.LEAGUE: " JOIN league l ON l.id = p.league_id",
            ScopeKind.TEAM: "",
        }[group.scope]
    selects = []
    for metric in Metric:
        if metric == Metric.GROWTH_PCT and not with_baseline:
            continue
        value, seq, condition = _metric_sql(metric)
        extra = ""
        if metric == Metric.TARGET_PCT:
            extra = (
                " JOIN target tg ON tg.program_id = t.program_id AND tg.period_key = t.period_key"
                " AND tg.kind = t.kind AND tg.participant_id = t.participant_id"
            )
        elif metric == Metric.GROWTH_PCT:
            extra = (
                " JOIN period_total b ON b.program_id = t.program_id AND b.period_key = :base"
                " AND b.kind = t.kind AND b.participant_id = t.participant_id"
            )
        selects.append(
            f"SELECT '{group.audience.value}' AS audience, {SCOPE_SQL[group.scope]} AS scope, "
            f"'{metric.value}' AS metric, t.kind AS kind, t.participant_id AS participant_id, "
            f"{value} AS value, {seq} AS seq FROM period_total t{joins}{extra} "
            f"WHERE t.program_id = :program AND t.period_key = :period AND t.kind = '{kind}'"
            f"{condition}"
        )
    return " UNION ALL ".join(selects)


SNAPSHOT_INSERT = (
    "INSERT INTO period_snapshot (program_id, period_key, generation, audience, scope, metric,"
    " kind, participant_id, rank, value, seq) SELECT :program, :period, :generation, audience,"
    " scope, metric, kind, participant_id,"
    " RANK() OVER (PARTITION BY audience, scope, metric ORDER BY value DESC), value, seq"
    " FROM ({rows}) board_rows"
)


def _no_parallel_workers(session: Session) -> None:
    # A close is background work: on a small server PostgreSQL's parallel workers would take
    # every core and slow the rank queries people are waiting for.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _freeze_group(
    session: Session, program: Program, period_key: str, generation: int, group: BoardGroup
) -> int:
    from app.boards import baseline_key  # boards pulls in the ranking backends (lazy)

    base = baseline_key(program, period_key)
    sql = SNAPSHOT_INSERT.format(rows=board_rows_sql(group, with_baseline=base is not None))
    params = {"program": program.id, "period": period_key, "generation": generation, "base": base}
    result = session.execute(sa.text(sql), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Tier bonuses


def _due_bonuses_sql(column: str, tiers: int) -> str:
    """Every (rep, partner, tier, points, tier position) reached in ``:period`` and not paid
    yet (bound: :program, :period, :tier_name_N, :tier_least_N, :tier_points_N)."""
    ladder = " UNION ALL ".join(
        f"SELECT CAST(:tier_name_{n} AS VARCHAR(80)) AS name, CAST(:tier_least_{n} AS BIGINT)"
        f" AS least, CAST(:tier_points_{n} AS INTEGER) AS points, {n} AS pos"
        for n in range(tiers)
    )
    return (
        "SELECT t.participant_id AS rep_id, r.partner_id AS partner_id, x.name AS tier,"
        " x.points AS points, x.pos AS pos"
        f" FROM period_total t JOIN rep r ON r.id = t.participant_id JOIN ({ladder}) x"
        f" ON t.{column} >= x.least WHERE t.program_id = :program AND t.period_key = :period"
        " AND t.kind = 'rep' AND NOT EXISTS (SELECT 1 FROM tier_bonus b"
        " WHERE b.program_id = :program AND b.period_key = :period"
        " AND b.rep_id = t.participant_id AND b.tier = x.name)"
    )


_BONUS_ENTRY = (
    "INSERT INTO ledger_entry (id, program_id, partner_id, rep_id, kind, points, period_key,"
    " occurred_at, created_at, memo) SELECT d.id, :program, d.partner_id, d.rep_id,"
    f" '{EntryKind.BONUS.value}', d.points, :paid_in, :at, :now,"
    " d.tier || ' tier bonus for ' || :period FROM {due} d"
)
_BONUS_RECORD = (
    "INSERT INTO tier_bonus (program_id, period_key, rep_id, tier, points, entry_id, created_at)"
    " SELECT :program, :period, d.rep_id, d.tier, d.points, d.id, :now FROM {due} d"
)
# Each bonus adds its points to the rep's and the partner's totals of the period it is paid in
# and of all time; the seq of a total is the newest entry that moved it (as ingestion keeps it).
_BONUS_TOTALS = (
    "INSERT INTO period_total (" + ", ".join(TOTAL_COLUMNS) + ") SELECT :program, k.period_key,"
    " h.kind, h.pid, sum(h.points), 0, 0, 0, max(h.id), 0, 0 FROM (SELECT 'rep' AS kind,"
    " d.rep_id AS pid, d.points, d.id FROM {due} d UNION ALL SELECT 'partner', d.partner_id,"
    " d.points, d.id FROM {due} d) h CROSS JOIN (SELECT CAST(:paid_in AS VARCHAR(16))"
    " AS period_key UNION ALL SELECT CAST(:all_time AS VARCHAR(16))) k"
    " GROUP BY k.period_key, h.kind, h.pid ORDER BY k.period_key, h.kind, h.pid" + TOTAL_UPSERT
)


def pay_tier_bonuses(
    session: Session, db: Database, program: Program, period: Period, now: datetime
) -> int:
    """Pay each rep the bonus of every tier it reached in ``period`` (once: ``tier_bonus`` is
    unique). Bonus points are entries of the period in which they are paid (the next one), so
    the frozen standings of the closed period are exactly what was ranked.

    All in the database, a few statements whatever the number of reps: a close of a million
    reps must not hold this process (and the rank queries it serves) for long."""
    rules = rules_of(program)
    tiers = [t for t in rules.ladder.tiers if t.bonus_points > 0]
    if not tiers:
        return 0
    assert program.id is not None
    # Ledger ids are taken and committed in order under this lock (the boards rely on it).
    lock_program_writes(session, program.id)
    column = {"units": "units", "points": "points", "revenue": "revenue_minor"}[
        rules.ladder.metric.value
    ]
    due = _due_bonuses_sql(column, len(tiers))
    instant = LedgerEntry.__table__.c.created_at.type  # type: ignore[attr-defined]
    params: dict[str, Any] = {
        "program": program.id, "period": period.key, "all_time": ALL_TIME,
        "paid_in": period_of(period.end, rules.cadence, rules.zone).key,
        "at": period.end, "now": now,
    }  # fmt: skip
    for n, tier in enumerate(tiers):
        params |= {f"tier_name_{n}": tier.name, f"tier_least_{n}": tier.threshold,
                   f"tier_points_{n}": tier.bonus_points}  # fmt: skip

    def statement(sql: str) -> sa.TextClause:
        instants = [
            sa.bindparam(name, type_=instant) for name in ("at", "now") if f":{name}" in sql
        ]
        return sa.text(sql).bindparams(*instants)

    if db.is_sqlite:
        # BEGIN IMMEDIATE holds the only write lock: the ids after the newest are ours. The
        # due rows are numbered in a total order, so each statement sees the same ids.
        base = session.execute(sa.text("SELECT coalesce(max(id), 0) FROM ledger_entry"))
        params["base"] = int(base.scalar_one())
        numbered = (
            f"(SELECT :base + ROW_NUMBER() OVER (ORDER BY rep_id, pos) AS id, rep_id,"
            f" partner_id, tier, points FROM ({due}) u)"
        )
        session.execute(statement(_BONUS_ENTRY.format(due=numbered)), params)
        paid = session.execute(statement(_BONUS_RECORD.format(due=numbered)), params)
        # Totals from the entries just written (the due rows are no longer due).
        written = (
            "(SELECT e.id, e.rep_id, e.partner_id, e.points FROM ledger_entry e"
            " WHERE e.id > :base AND e.program_id = :program)"
        )
        session.execute(statement(_BONUS_TOTALS.format(due=written)), params)
        return int(paid.rowcount or 0)  # type: ignore[attr-defined]
    # PostgreSQL: one statement; each due row takes its ledger id once (a materialised CTE).
    sql = (
        f"WITH due AS MATERIALIZED (SELECT nextval('ledger_entry_id_seq') AS id, u.*"
        f" FROM ({due} ORDER BY 1, 5) u),"
        f" entries AS ({_BONUS_ENTRY.format(due='due')}),"
        f" totals AS ({_BONUS_TOTALS.format(due='due')}) " + _BONUS_RECORD.format(due="due")
    )
    paid = session.execute(statement(sql), params)
    return int(paid.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Claiming a close: the advisory lock (PostgreSQL) and the close record


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


@contextlib.contextmanager
def close_lock(db: Database, program_id: int) -> Iterator[bool]:
    """Whether this process may close the program's periods now. PostgreSQL: a session
    advisory lock on a connection held for the whole close, released by the server if the
    process dies. SQLite: always (the close record's lease decides)."""
    if db.is_sqlite:
        yield True
        return
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(
            conn.execute(sa.select(sa.func.pg_try_advisory_lock(CLOSE_LOCK, program_id))).scalar()
        )
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(CLOSE_LOCK, program_id)))


# A period with fewer running totals than this is frozen in one unit (one transaction); a
# bigger one board group by board group, so a crash loses little and progress can be shown.
SMALL_CLOSE_ROWS = 20_000
SMALL, LARGE = "plan:small", "plan:large"


def _units(plan: str) -> list[str]:
    boards = ["boards"] if plan == SMALL else [g.name for g in BOARD_GROUPS]
    return (
        boards + ["tier_bonuses", "streaks"] + [f"step:{s.name}" for s in CLOSE_STEPS] + ["finish"]
    )


def _plan(session: Session, program_id: int, period_key: str) -> str:
    rows = session.execute(
        sa.select(sa.func.count())
        .select_from(PeriodTotal)
        .where(col(PeriodTotal.program_id) == program_id, col(PeriodTotal.period_key) == period_key)
    ).scalar_one()
    return SMALL if rows < SMALL_CLOSE_ROWS else LARGE


def _claim(
    db: Database,
    program: Program,
    period: Period,
    now: datetime,
    owner: str,
    lease: timedelta,
    reclose: bool,
    by: int | None,
) -> tuple[str, PeriodClose | None]:
    """Create or take over the close record. Also takes the program's write lock, so an
    ingest either committed before (its totals are frozen) or sees the period closed (its
    events are held as pending adjustments)."""
    assert program.id is not None
    try:
        with db.write() as s:
            lock_program_writes(s, program.id)
            record = s.execute(
                sa.select(PeriodClose).where(
                    col(PeriodClose.program_id) == program.id,
                    col(PeriodClose.period_key) == period.key,
                )
            ).scalar_one_or_none()
            if record is None:
                plan = _plan(s, program.id, period.key)
                record = PeriodClose(
                    program_id=program.id, period_key=period.key, state="started",
                    units_total=len(_units(plan)), steps_done=[plan], started_at=now,
                    lease_owner=owner,
                    lease_until=now + lease, attempts=1, closed_by=by,
                )  # fmt: skip
                s.add(record)
                s.flush()
                return "claimed", record
            if record.state == "finished":
                return "already_closed", record
            if record.state == "reopened":
                if not reclose:
                    return "reopened_waits", record
                record.state, record.generation = "started", record.generation + 1
                record.units_done, record.changes = 0, []
                record.steps_done = [_plan(s, program.id, period.key)]
                record.started_at, record.finished_at, record.closed_by = now, None, by
            elif (
                db.is_sqlite
                and record.lease_owner != owner
                and record.lease_until is not None
                and record.lease_until > now
            ):
                return "busy", record  # another SQLite process is at it
            # The plan chosen when the close began holds until it ends (a restart keeps it).
            plan = SMALL if SMALL in record.steps_done else LARGE
            record.units_total = len(_units(plan))
            record.lease_owner, record.lease_until = owner, now + lease
            record.attempts += 1
            s.add(record)
            return "claimed", record
    except IntegrityError:  # another process created the record first
        return "busy", None


# ---------------------------------------------------------------------------------------------
# The close


@dataclass
class _Run:
    db: Database
    program: Program
    period: Period
    record_id: int
    now: datetime
    owner: str
    lease: timedelta
    progress: ProgressFn | None
    crash_after: str | None = None
    started: float = field(default_factory=time.monotonic)

    def clock(self) -> datetime:
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def unit(self, name: str, work: Callable[[Session, PeriodClose], None]) -> PeriodClose:
        """One unit of work and the record of it having been done, in one transaction."""
        with self.db.write() as s:
            record = s.get(PeriodClose, self.record_id)
            assert record is not None
            work(s, record)
            _kill_if(self.crash_after, f"{name}:uncommitted")
            record.units_done += 1
            record.steps_done = [*record.steps_done, name]
            record.lease_until = self.clock() + self.lease
            s.add(record)
        if self.progress is not None:
            self.progress(Progress(record.units_done, record.units_total, name))
        return record


def close_period(
    db: Database,
    program: Program,
    period_key: str,
    now: datetime,
    *,
    by: User | None = None,
    reclose: bool = False,
    progress: ProgressFn | None = None,
    owner: str | None = None,
    lease: timedelta = LEASE,
    crash_after: str | None = None,
) -> CloseOutcome:
    """Close ``period_key`` of ``program`` (or finish a close a dead process started).

    ``reclose``: close a period an admin reopened (the scheduler leaves those alone).
    ``crash_after``: for the crash tests only, kill this process (SIGKILL) right after the
    named unit commits."""
    rules = rules_of(program)
    try:
        period = parse_period_key(period_key, rules.cadence, rules.zone)
    except ValueError as exc:
        raise CloseRefused("%(problem)s", problem=str(exc)) from None
    if now < period.end:
        local_end = period.end.astimezone(rules.zone).strftime("%Y-%m-%d %H:%M %Z")
        raise CloseRefused(
            "Period %(period)s has not ended yet; it ends at %(end)s.",
            period=period.key,
            end=local_end,
        )
    if period.end <= program.starts_at or period.start >= program.ends_at:
        raise CloseRefused("Period %(period)s is outside the program's dates.", period=period.key)
    assert program.id is not None
    owner = owner or _owner()
    with close_lock(db, program.id) as got:
        if not got:
            return CloseOutcome(period.key, "busy")
        status, record = _claim(
            db, program, period, now, owner, lease, reclose, by.id if by else None
        )
        if status != "claimed":
            return CloseOutcome(period.key, status, record)
        assert record is not None and record.id is not None
        run = _Run(db, program, period, record.id, now, owner, lease, progress, crash_after)
        record = _in_background(functools.partial(_work, run, record, crash_after))
    return CloseOutcome(period.key, "closed", record)


# How much lower the CPU priority of a close's thread is than the process's (Linux ``nice``).
BACKGROUND_NICE = 5


def _in_background(work: Callable[[], PeriodClose]) -> PeriodClose:
    """Run a close's work in a thread of its own at a lower CPU priority and wait for it.

    A close of a million participants keeps a core busy for minutes; on SQLite that work runs
    in this process, beside the page requests it serves, which should go first. A thread of
    its own because a thread's priority can be lowered but, without privileges, never raised
    again: the caller's thread (a scheduler worker, the CLI's main thread) stays as it was.
    Daemon: if the process is stopped, the unit in progress rolls back and a restart redoes it.
    """
    out: list[PeriodClose] = []
    failed: list[BaseException] = []

    def run() -> None:
        if sys.platform == "linux":  # elsewhere setpriority would lower the whole process
            with contextlib.suppress(OSError):
                tid = threading.get_native_id()
                os.setpriority(
                    os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE
                )
        try:
            out.append(work())
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="period-close", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return out[0]


def _kill_if(crash_after: str | None, unit: str) -> None:
    if crash_after is not None and crash_after == unit:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _work(run: _Run, record: PeriodClose, crash_after: str | None) -> PeriodClose:
    program, period, generation = run.program, run.period, record.generation
    done = set(record.steps_done)

    groups = [("boards", BOARD_GROUPS)] if SMALL in done else [(g.name, (g,)) for g in BOARD_GROUPS]
    for name, members in groups:
        if name in done:
            continue

        def freeze(s: Session, r: PeriodClose, members: tuple[BoardGroup, ...] = members) -> None:
            _no_parallel_workers(s)
            for group in members:
                r.snapshot_rows += _freeze_group(s, program, period.key, generation, group)
                if group.scope == ScopeKind.EVERYONE:
                    r.participants += s.execute(
                        sa.select(sa.func.count())
                        .select_from(PeriodTotal)
                        .where(
                            col(PeriodTotal.program_id) == program.id,
                            col(PeriodTotal.period_key) == period.key,
                            col(PeriodTotal.kind) == KIND[group.audience],
                        )
                    ).scalar_one()

        record = run.unit(name, freeze)
        _kill_if(crash_after, name)

    if "tier_bonuses" not in done:

        def bonuses(s: Session, r: PeriodClose) -> None:
            r.bonuses += pay_tier_bonuses(s, run.db, program, period, run.clock())

        record = run.unit("tier_bonuses", bonuses)
        _kill_if(crash_after, "tier_bonuses")

    if "streaks" not in done:

        def streaks(s: Session, r: PeriodClose) -> None:
            r.streaks = persist_streaks(s, program, period)

        record = run.unit("streaks", streaks)
        _kill_if(crash_after, "streaks")

    for step in list(CLOSE_STEPS):
        name = f"step:{step.name}"
        if name in done:
            continue
        # The step commits on its own (its unique keys make a rerun harmless); then it is
        # recorded as done.
        awarded = step.run(run.db, program, period.key, run.clock())
        _kill_if(crash_after, f"{name}:before-record")

        def note(s: Session, r: PeriodClose, awarded: int = awarded) -> None:
            r.awards += awarded

        record = run.unit(name, note)

    def finish(s: Session, r: PeriodClose) -> None:
        if generation > 1:
            r.changes = _changes(s, program, period.key, generation)
            s.execute(
                sa.delete(PeriodSnapshot).where(
                    col(PeriodSnapshot.program_id) == program.id,
                    col(PeriodSnapshot.period_key) == period.key,
                    col(PeriodSnapshot.generation) < generation,
                )
            )
            s.add(
                AuditEntry(
                    at=run.clock(), actor_user_id=r.closed_by, action="period_reclosed",
                    subject=f"period:{program.code}:{period.key}",
                    details={"generation": generation, "changes": r.changes[:50],
                             "changed": len(r.changes)},
                )
            )  # fmt: skip
        finished = run.clock()
        r.state, r.finished_at = "finished", finished
        r.duration_ms = int((finished - r.started_at).total_seconds() * 1000)
        r.lease_until = None

    record = run.unit("finish", finish)
    return record


def _changes(
    session: Session, program: Program, period_key: str, generation: int
) -> list[dict[str, Any]]:
    """Rows whose rank or value differ between the previous frozen boards and the new ones."""
    rows = session.execute(
        sa.text(
            "SELECT n.audience, n.scope, n.metric, n.kind, n.participant_id, o.rank, n.rank,"
            " o.value, n.value FROM period_snapshot n LEFT JOIN period_snapshot o"
            " ON o.program_id = n.program_id AND o.period_key = n.period_key"
            " AND o.generation = :old AND o.audience = n.audience AND o.scope = n.scope"
            " AND o.metric = n.metric AND o.participant_id = n.participant_id"
            " WHERE n.program_id = :program AND n.period_key = :period AND n.generation = :new"
            " AND (o.id IS NULL OR o.rank <> n.rank OR o.value <> n.value)"
            " ORDER BY n.audience, n.scope, n.metric, n.rank LIMIT :limit"
        ),
        {"program": program.id, "period": period_key, "old": generation - 1, "new": generation,
         "limit": MAX_CHANGES},
    ).all()  # fmt: skip
    return [
        {"board": f"{a}|{sc}|{m}", "kind": k, "participant_id": pid, "rank_before": r0,
         "rank_after": r1, "value_before": v0, "value_after": v1}
        for a, sc, m, k, pid, r0, r1, v0, v1 in rows
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Which periods are due, catching up, reopening


@functools.lru_cache(maxsize=64)
def _program_periods(start: datetime, end: datetime, cadence: str, zone: str) -> tuple[Period, ...]:
    """Every period of a program, computed once per process (a catch-up asks often)."""
    return tuple(periods_between(start, end, Cadence(cadence), ZoneInfo(zone)))


def due_periods(session: Session, program: Program, now: datetime) -> list[Period]:
    """Every period of the program that has ended by ``now`` and is not closed (a reopened
    one waits for an admin), oldest first: missed runs are caught up in order."""
    if program.ends_at <= program.starts_at:
        return []
    periods = _program_periods(
        program.starts_at, program.ends_at, program.cadence, program.timezone
    )
    ended = [p for p in periods if p.end <= now]
    if not ended:
        return []
    settled = set(
        session.execute(
            sa.select(col(PeriodClose.period_key)).where(
                col(PeriodClose.program_id) == program.id,
                col(PeriodClose.state).in_(("finished", "reopened")),
            )
        ).scalars()
    )
    return [p for p in ended if p.key not in settled]


def close_due_periods(
    db: Database,
    program: Program,
    now: datetime,
    progress: ProgressFn | None = None,
    owner: str | None = None,
    lease: timedelta = LEASE,
) -> list[CloseOutcome]:
    """Close every ended period not closed yet, oldest first (the scheduler's job and the
    catch-up at start). Stops at the first one another process is working on."""
    with db.session() as s:
        due = due_periods(s, program, now)
    outcomes = []
    for period in due:
        outcome = close_period(db, program, period.key, now, progress=progress, owner=owner,
                               lease=lease)  # fmt: skip
        outcomes.append(outcome)
        if outcome.status == "busy":
            break
    return outcomes


def reopen_period(
    db: Database, program: Program, period_key: str, by: User | None, reason: str, now: datetime
) -> PeriodClose:
    """Reopen a closed period: events for it are taken again until an admin closes it again.
    The frozen boards stay until the re-close replaces them (and lists what changed)."""
    if not reason.strip():
        raise CloseRefused("Say why the period is reopened.")
    assert program.id is not None
    with db.write() as s:
        lock_program_writes(s, program.id)
        record: PeriodClose | None = s.execute(
            sa.select(PeriodClose).where(
                col(PeriodClose.program_id) == program.id,
                col(PeriodClose.period_key) == period_key,
            )
        ).scalar_one_or_none()
        if record is None or record.state != "finished":
            raise CloseRefused(
                "Period %(period)s is not closed, so it cannot be reopened.", period=period_key
            )
        record.state = "reopened"
        s.add(record)
        s.add(
            AuditEntry(at=now, actor_user_id=by.id if by else None, action="period_reopened",
                       subject=f"period:{program.code}:{period_key}",
                       details={"reason": reason.strip()[:500]})
        )  # fmt: skip
    return record


def closed_keys(session: Session, program_id: int, keys: set[str]) -> set[str]:
    """Which of ``keys`` are closed (or being closed) for ``program_id``."""
    if not keys:
        return set()
    return set(
        session.execute(
            sa.select(col(PeriodClose.period_key)).where(
                col(PeriodClose.program_id) == program_id,
                col(PeriodClose.period_key).in_(keys),
                col(PeriodClose.state).in_(("started", "finished")),
            )
        ).scalars()
    )


# ---------------------------------------------------------------------------------------------
# Late events: apply (reopen, take the event, re-close) or reject


def apply_adjustment(
    db: Database, program: Program, adjustment_id: int, by: User | None, now: datetime
) -> CloseOutcome:
    """Take a held event into its period: reopen it, ingest the event exactly as it was sent,
    and close the period again; the re-close records (and audits) what changed on the boards.
    Each step can be repeated after a crash: ingestion is idempotent on the event's id."""
    with db.session() as s:
        adj = s.get(PendingAdjustment, adjustment_id)
    if adj is None or adj.program_id != program.id:
        raise CloseRefused("That late event does not exist.")
    if adj.status != "pending":
        raise CloseRefused("That late event was already decided.")
    with db.session() as s:
        record = s.execute(
            sa.select(PeriodClose).where(
                col(PeriodClose.program_id) == program.id,
                col(PeriodClose.period_key) == adj.period_key,
            )
        ).scalar_one_or_none()
    if record is not None and record.state == "finished":
        reopen_period(db, program, adj.period_key, by, f"apply late event {adj.external_id}", now)
    elif record is not None and record.state == "started":
        raise CloseRefused(
            "Period %(period)s is being closed right now; try again in a minute.",
            period=adj.period_key,
        )
    # Held as JSON, where an amount is text: back to the exact decimal the sender sent.
    event = dict(adj.event)
    if "amount" in event:
        event["amount"] = Decimal(str(event["amount"]))
    report = ingest_events(db, program, adj.source, [event], now,
                           future_tolerance=timedelta(days=36500))  # fmt: skip
    if report.rejected:
        raise CloseRefused(
            "The event cannot be taken: %(problem)s", problem=report.rejected[0]["error"]
        )
    with db.write() as s:
        held = s.get(PendingAdjustment, adjustment_id)
        assert held is not None
        held.status, held.decided_by, held.decided_at = "applied", by.id if by else None, now
        s.add(held)
        s.add(
            AuditEntry(at=now, actor_user_id=by.id if by else None, action="adjustment_applied",
                       subject=f"adjustment:{adjustment_id}",
                       details={"period": held.period_key, "event": held.external_id,
                                "accepted": report.accepted, "duplicates": report.duplicates})
        )  # fmt: skip
    return close_period(db, program, adj.period_key, now, by=by, reclose=True)


def reject_adjustment(
    db: Database, program: Program, adjustment_id: int, by: User | None, reason: str, now: datetime
) -> PendingAdjustment:
    if not reason.strip():
        raise CloseRefused("Say why the late event is rejected.")
    with db.write() as s:
        adj = s.get(PendingAdjustment, adjustment_id)
        if adj is None or adj.program_id != program.id:
            raise CloseRefused("That late event does not exist.")
        if adj.status != "pending":
            raise CloseRefused("That late event was already decided.")
        adj.status, adj.decided_by, adj.decided_at = "rejected", by.id if by else None, now
        adj.reason = reason.strip()[:500]
        s.add(adj)
        s.add(
            AuditEntry(at=now, actor_user_id=by.id if by else None, action="adjustment_rejected",
                       subject=f"adjustment:{adjustment_id}",
                       details={"period": adj.period_key, "event": adj.external_id,
                                "reason": adj.reason})
        )  # fmt: skip
    return adj


# ---------------------------------------------------------------------------------------------
# Reading frozen boards


def shown_generation(record: PeriodClose) -> int:
    """The complete frozen boards: during a re-close, the previous ones until it finishes."""
    if record.state == "started" and record.generation > 1:
        return record.generation - 1
    return record.generation


def frozen_board(
    session: Session,
    program: Program,
    period_key: str,
    audience: str,
    scope: str,
    metric: str,
    limit: int = 10,
) -> list[tuple[int, int, int, int]]:
    """(rank, participant id, value, seq) of a frozen board, in board order (tie rule)."""
    record = session.execute(
        sa.select(PeriodClose).where(
            col(PeriodClose.program_id) == program.id, col(PeriodClose.period_key) == period_key
        )
    ).scalar_one_or_none()
    if record is None:
        return []
    rows = session.execute(
        sa.select(col(PeriodSnapshot.rank), col(PeriodSnapshot.participant_id),
                  col(PeriodSnapshot.value), col(PeriodSnapshot.seq))
        .where(col(PeriodSnapshot.program_id) == program.id,
               col(PeriodSnapshot.period_key) == period_key,
               col(PeriodSnapshot.generation) == shown_generation(record),
               col(PeriodSnapshot.audience) == audience, col(PeriodSnapshot.scope) == scope,
               col(PeriodSnapshot.metric) == metric)
        .order_by(col(PeriodSnapshot.rank), col(PeriodSnapshot.seq))
        .limit(limit)
    ).all()  # fmt: skip
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# ---------------------------------------------------------------------------------------------
# Integrity check


def integrity_problems(session: Session, program: Program, limit: int = 20) -> list[str]:
    """Balances and boards against the ledger: every running total's points (per period and
    all-time, which balances and points boards are read from) must equal the sum of the
    participant's ledger entries. Returns sentences, empty when all agree."""
    pid = program.id
    problems: list[str] = []
    ledger: dict[tuple[str, str, int], int] = {}
    for key, rep_id, partner_id, points in session.execute(
        sa.select(col(LedgerEntry.period_key), col(LedgerEntry.rep_id),
                  col(LedgerEntry.partner_id), sa.func.sum(col(LedgerEntry.points)))
        .where(col(LedgerEntry.program_id) == pid)
        .group_by(col(LedgerEntry.period_key), col(LedgerEntry.rep_id),
                  col(LedgerEntry.partner_id))
    ):  # fmt: skip
        holders = [("partner", partner_id)] + ([("rep", rep_id)] if rep_id is not None else [])
        for kind, holder in holders:
            for k in (key, ALL_TIME):
                ledger[(k, kind, holder)] = ledger.get((k, kind, holder), 0) + int(points)
    stored = {
        (k, kind, holder): int(points)
        for k, kind, holder, points in session.execute(
            sa.select(
                col(PeriodTotal.period_key),
                col(PeriodTotal.kind),
                col(PeriodTotal.participant_id),
                col(PeriodTotal.points),
            ).where(col(PeriodTotal.program_id) == pid)
        )
    }
    for key in sorted(set(ledger) | set(stored)):
        want, have = ledger.get(key, 0), stored.get(key, 0)
        if want != have:
            problems.append(
                f"{key[1]} {key[2]} in {key[0]}: board total {have} points, ledger {want}"
            )
            if len(problems) >= limit:
                break
    return problems


def recent_closes(session: Session, program: Program, limit: int = 30) -> list[PeriodClose]:
    return list(
        session.execute(
            sa.select(PeriodClose)
            .where(col(PeriodClose.program_id) == program.id)
            .order_by(col(PeriodClose.started_at).desc())
            .limit(limit)
        ).scalars()
    )


def pending_adjustments(session: Session, program: Program) -> list[PendingAdjustment]:
    return list(
        session.execute(
            sa.select(PendingAdjustment)
            .where(col(PendingAdjustment.program_id) == program.id,
                   col(PendingAdjustment.status) == "pending")
            .order_by(col(PendingAdjustment.received_at))
        ).scalars()
    )  # fmt: skip


def next_period_after(program: Program, period_key: str) -> str:
    rules = rules_of(program)
    return next_period(parse_period_key(period_key, rules.cadence, rules.zone), rules.zone).key
