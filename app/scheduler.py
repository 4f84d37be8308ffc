"""Scheduled jobs: period closes, challenges, reminders and the integrity check.

An APScheduler 3 ``AsyncIOScheduler`` runs in every app process (``podium serve``; not with
``--no-scheduler``). Every job is safe to run in several processes at once: a close is guarded
by its unique record and an advisory lock (``app/closing.py``), reminders by a unique row per
user and subject, the integrity check only reads. Jobs run in a worker thread, so a long
close never blocks the web server's event loop.

Time: period-close triggers are cron-like in each program's time zone (just after local
midnight at the start of a day, week, month or quarter), a sweep every few minutes closes
anything a trigger missed, and one run at start catches up periods that ended while the app
was down. The close itself takes ``now``, so tests drive it with a controlled clock.

Other features plug in through ``CLOSE_STEPS`` (``app.closing.register_close_step``) and
``PERIODIC_JOBS`` (``register_job``); ``wire_features`` is the one place that does it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col

from app.closing import close_due_periods, integrity_problems, register_close_step
from app.db import Database
from app.models import JobRun, Program
from app.reminders import send_reminders
from game.periods import Cadence, period_of

log = logging.getLogger(__name__)

SWEEP_SECONDS = 300  # a missed trigger is caught within this long
# Local time the close of a period runs: a few seconds after its end, so that an event sent at
# 23:59:59.999 by a clock a little behind is still in.
CLOSE_DELAY_SECONDS = 5

JobFn = Callable[[Database, datetime], dict[str, Any]]


@dataclass(frozen=True)
class PeriodicJob:
    """A job of the whole app (not of one program): ``run(db, now)`` returns what it did."""

    name: str
    trigger: Callable[[], BaseTrigger]
    run: JobFn


PERIODIC_JOBS: list[PeriodicJob] = []


def register_job(job: PeriodicJob) -> None:
    """Add (or replace, by name) a periodic job every scheduler runs."""
    PERIODIC_JOBS[:] = [j for j in PERIODIC_JOBS if j.name != job.name] + [job]


class PeriodEndTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fires ``delay`` after the end of each period of a cadence in a zone, from the same
    ``game.periods`` arithmetic that files events into periods. (APScheduler 3's CronTrigger
    skips the day after a spring DST change in Europe/Berlin — 2026-03-30 — so "just after
    local midnight" is not left to it; see tests/app/test_closing.py.)"""

    def __init__(self, cadence: Cadence, zone: ZoneInfo, delay: timedelta) -> None:
        self.cadence, self.zone, self.delay = cadence, zone, delay

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = now if previous_fire_time is None else max(now, previous_fire_time + US)
        # The period running at ``after - delay`` ends next; fire ``delay`` after its end.
        return period_of(after - self.delay, self.cadence, self.zone).end + self.delay

    def __str__(self) -> str:
        return f"period end ({self.cadence.value}, {self.zone.key})"


US = timedelta(microseconds=1)


def close_trigger(program: Program) -> PeriodEndTrigger:
    """Fires just after each period of ``program`` ends, in the program's time zone."""
    return PeriodEndTrigger(
        Cadence(program.cadence), ZoneInfo(program.timezone), timedelta(seconds=CLOSE_DELAY_SECONDS)
    )


# ---------------------------------------------------------------------------------------------
# The jobs


def _programs(db: Database) -> list[Program]:
    with db.session() as s:
        return list(s.execute(sa.select(Program).order_by(col(Program.id))).scalars())


def _recorded(
    db: Database,
    job: str,
    program_id: int | None,
    now: datetime,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``work`` with a job-run record (running, then ok or failed with the error)."""
    from app.closing import _owner

    with db.write() as s:
        run = JobRun(job=job, program_id=program_id, host=_owner(), started_at=now)
        s.add(run)
    try:
        detail = work()
    except Exception as exc:
        with db.write() as s:
            failed = s.get(JobRun, run.id)
            assert failed is not None
            failed.status, failed.finished_at = "failed", datetime.now(now.tzinfo)
            failed.detail = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            s.add(failed)
        raise
    with db.write() as s:
        done = s.get(JobRun, run.id)
        assert done is not None
        done.status, done.finished_at, done.detail = "ok", datetime.now(now.tzinfo), detail
        s.add(done)
    return detail


def close_job(db: Database, program_id: int, now: datetime) -> dict[str, Any]:
    """Close every ended period of one program that is not closed yet."""
    with db.session() as s:
        program = s.get(Program, program_id)
    if program is None:
        return {}
    outcomes = close_due_periods(db, program, now)
    closed = [o.period_key for o in outcomes if o.status == "closed"]
    if not closed and not any(o.status == "busy" for o in outcomes):
        return {}  # nothing was due: no job-run row for an idle sweep
    return _recorded(
        db,
        "close",
        program_id,
        now,
        lambda: {"closed": closed, "busy": [o.period_key for o in outcomes if o.status == "busy"]},
    )


def sweep_closes(db: Database, now: datetime) -> dict[str, Any]:
    """The catch-up: every program's due periods (also run once at start)."""
    done: dict[str, Any] = {}
    for program in _programs(db):
        assert program.id is not None
        result = close_job(db, program.id, now)
        if result:
            done[program.code] = result
    return done


def integrity_job(db: Database, now: datetime) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        found: dict[str, Any] = {}
        with db.session() as s:
            for program in _programs(db):
                problems = integrity_problems(s, program)
                if problems:
                    log.error("integrity check of %s: %s", program.code, "; ".join(problems))
                found[program.code] = problems
        return {"problems": found}

    return _recorded(db, "integrity", None, now, check)


def reminders_job(db: Database, now: datetime) -> dict[str, Any]:
    sent = {p.code: send_reminders(db, p, now) for p in _programs(db)}
    if not any(sent.values()):
        return {}
    return _recorded(db, "reminders", None, now, lambda: {"sent": sent})


def wire_features() -> None:
    """The one place other features join the schedule: placement badges at each close and
    challenge start, end and settlement every minute (imported here: they import the store
    this module's callers set up first)."""
    from app.badges import evaluate_period_close
    from app.challenges import advance_challenges

    register_close_step("badges", evaluate_period_close)

    def challenges_job(db: Database, now: datetime) -> dict[str, Any]:
        return {"result": repr(advance_challenges(db, now))[:500]}

    register_job(PeriodicJob("challenges", lambda: IntervalTrigger(minutes=1), challenges_job))


register_job(PeriodicJob("reminders", lambda: CronTrigger(minute=7), reminders_job))
register_job(
    PeriodicJob("integrity", lambda: CronTrigger(hour=3, minute=17, timezone="UTC"), integrity_job)
)


# ---------------------------------------------------------------------------------------------
# The scheduler of one app process


@dataclass(frozen=True)
class NextRun:
    job: str
    at: datetime | None


class Scheduler:
    """APScheduler in the app's event loop; the work itself runs in threads."""

    def __init__(
        self, db: Database, clock: Callable[[], datetime], sweep_seconds: float | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.sweep_seconds = sweep_seconds if sweep_seconds is not None else SWEEP_SECONDS
        self._aps: AsyncIOScheduler | None = None

    def _add(self, name: str, trigger: BaseTrigger, fn: Callable[[datetime], Any]) -> None:
        async def job() -> None:
            try:
                await asyncio.to_thread(fn, self.clock())
            except Exception:
                log.exception("scheduled job %s failed", name)

        assert self._aps is not None
        self._aps.add_job(job, trigger, id=name, name=name, replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=None)  # fmt: skip

    def start(self) -> None:
        wire_features()
        self._aps = AsyncIOScheduler(timezone="UTC")
        db = self.db
        for program in _programs(db):
            pid = program.id
            assert pid is not None
            self._add(f"close:{program.code}", close_trigger(program), partial(close_job, db, pid))
        self._add("close:sweep", IntervalTrigger(seconds=self.sweep_seconds),
                  lambda now: sweep_closes(db, now))  # fmt: skip
        # Missed runs: periods that ended while no process was up are closed at start.
        self._add("close:catch-up", DateTrigger(), lambda now: sweep_closes(db, now))
        for periodic in PERIODIC_JOBS:
            self._add(periodic.name, periodic.trigger(), partial(periodic.run, db))
        self._aps.start()

    def shutdown(self) -> None:
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None

    def next_runs(self) -> list[NextRun]:
        if self._aps is None:
            return []
        return sorted(
            (NextRun(job.name, job.next_run_time) for job in self._aps.get_jobs()),
            key=lambda r: (r.at is None, r.at.timestamp() if r.at else 0.0, r.job),
        )


def planned_runs(program: Program, now: datetime, count: int = 3) -> list[datetime]:
    """The next times the close of ``program`` is due (for pages of processes without a
    scheduler of their own)."""
    trigger = close_trigger(program)
    out: list[datetime] = []
    previous: datetime | None = None
    at = now
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, at)
        if fire is None:
            break
        out.append(fire)
        previous, at = fire, fire + timedelta(seconds=1)
    return out
