"""Closing a period of many participants, beside one INSERT … SELECT … RANK() OVER (…) statement
that writes the same frozen boards into the same snapshot table on the same database; and the
p99 of rank queries (a board page's view) while the close runs, beside the same when idle.

PostgreSQL when PODIUM_BENCH_DATABASE_URL (or PODIUM_TEST_DATABASE_URL) is set, SQLite otherwise.
Full size: 1,000,000 reps (20,000 partners), or PODIUM_BENCH_CLOSE_REPS; --quick: 20,000.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from app.boards import Leaderboards
from app.closing import BOARD_GROUPS, SNAPSHOT_INSERT, board_rows_sql, close_period
from app.db import Database
from app.models import Program
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind
from tests.perf.figures import Figure, percentile

PERIOD, LIVE = "2026-10", "2026-11"
NOW = datetime(2026, 11, 2, tzinfo=UTC)
TIERS = {"metric": "units", "tiers": [{"name": "Bronze", "threshold": 40, "bonus_points": 100}]}


def _database(reps: int) -> tuple[Database, str | None]:
    url = os.environ.get("PODIUM_BENCH_DATABASE_URL") or os.environ.get("PODIUM_TEST_DATABASE_URL")
    if not url:
        db = Database(f"sqlite:///{tempfile.mkdtemp()}/close.db")
        db.migrate()
        return db, None
    name = f"podium_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    db = Database(sa.make_url(url).set(database=name).render_as_string(hide_password=False))
    db.migrate()
    return db, name


def _drop(url: str, name: str | None) -> None:
    if name is None:
        return
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _series(db: Database, n: int) -> str:
    """A table expression of 1..n as column ``i`` (generate_series or a recursive CTE)."""
    if db.is_sqlite:
        return f"(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i FROM c) s"
    return f"generate_series(1, {n}) AS s(i)"


def _seed(db: Database, reps: int) -> Program:
    partners = max(1, reps // 50)
    live = reps // 100  # the live period's board (the one people look at during the close)
    with db.write() as s:
        s.execute(sa.text("INSERT INTO region (id, code, name) SELECT i, 'R' || i, 'Region ' || i FROM "
                          + _series(db, 10)))  # fmt: skip
        s.execute(sa.text("INSERT INTO league (id, code, name, position) SELECT i, 'L' || i, 'League', i FROM "
                          + _series(db, 3)))  # fmt: skip
        s.execute(sa.text(
            "INSERT INTO partner (id, code, name, city, region_id, league_id, anonymous) SELECT i,"
            " 'P' || i, 'Partner ' || i, '', 1 + i % 10, 1 + i % 3, false FROM " + _series(db, partners)
        ))  # fmt: skip
        s.execute(sa.text(
            "INSERT INTO rep (id, code, name, email, partner_id, anonymous) SELECT i, 'R' || i,"
            f" 'Rep ' || i, 'r' || i || '@example.com', 1 + i % {partners}, false FROM "
            + _series(db, reps)
        ))  # fmt: skip
        program = Program(code="B", name="Bench", starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                          ends_at=datetime(2027, 1, 1, tzinfo=UTC), cadence="month",
                          timezone="Asia/Jakarta", scoring={"points_per_unit": "10"}, tiers=TIERS)  # fmt: skip
        s.add(program)
        s.flush()
        pid = program.id
        # Spread values, in 64 bits (a million reps overflow PostgreSQL's integer).
        a, b = "(CAST(i AS BIGINT) * 7919)", "(CAST(i AS BIGINT) * 104729)"
        for key, n in ((PERIOD, reps), (LIVE, live)):
            s.execute(sa.text(
                "INSERT INTO period_total (program_id, period_key, kind, participant_id, points,"
                " units, revenue_minor, events, points_seq, units_seq, revenue_seq)"
                f" SELECT {pid}, '{key}', 'rep', i, {a} % 500 * 10, {a} % 50,"
                f" {b} % 1000000 * 100, 1, i, i, i FROM " + _series(db, n)
            ))  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO period_total (program_id, period_key, kind, participant_id, points,"
                " units, revenue_minor, events, points_seq, units_seq, revenue_seq)"
                f" SELECT {pid}, '{key}', 'partner', i, {a} % 5000 * 10, {a} % 500,"
                f" {b} % 1000000 * 1000, 1, i, i, i FROM " + _series(db, partners)
            ))  # fmt: skip
        # One sale per rep in the period (the streaks count sales).
        s.execute(sa.text(
            "INSERT INTO event (id, program_id, source, external_id, type, partner_id, rep_id, sku,"
            " units, amount_minor, invoice, line_key, occurred_at, period_key, body_hash, received_at)"
            f" SELECT i, {pid}, 'bench', 'e' || i, 'sale', 1 + i % {partners}, i, 'SKU', 1, 100,"
            " NULL, NULL, :at, :period, 'h', :at FROM " + _series(db, reps)
        ), {"at": datetime(2026, 10, 10, tzinfo=UTC).replace(tzinfo=None) if db.is_sqlite
            else datetime(2026, 10, 10, tzinfo=UTC), "period": PERIOD})  # fmt: skip
        s.execute(sa.text(
            "INSERT INTO ledger_entry (id, program_id, partner_id, rep_id, event_id, kind, points,"
            " period_key, occurred_at, created_at, memo)"
            f" SELECT i, {pid}, 1 + i % {partners}, i, i, 'earn', 10, :period, :at, :at, '' FROM "
            + _series(db, reps)
        ), {"at": datetime(2026, 10, 10, tzinfo=UTC).replace(tzinfo=None) if db.is_sqlite
            else datetime(2026, 10, 10, tzinfo=UTC), "period": PERIOD})  # fmt: skip
        if not db.is_sqlite:
            for table in ("event", "ledger_entry"):
                s.execute(sa.text(f"SELECT setval('{table}_id_seq', {reps})"))
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
    return program


def _anchor(db: Database, program: Program) -> float:
    """The same frozen boards in one statement, into the emptied snapshot table."""
    from app.boards import baseline_key

    base = baseline_key(program, PERIOD)
    rows = " UNION ALL ".join(board_rows_sql(g, base is not None) for g in BOARD_GROUPS)
    _empty_snapshots(db)
    started = time.perf_counter()
    with db.write() as s:
        s.execute(sa.text(SNAPSHOT_INSERT.format(rows=rows)),
                  {"program": program.id, "period": PERIOD, "generation": 0, "base": base})  # fmt: skip
    return time.perf_counter() - started


def _empty_snapshots(db: Database) -> None:
    # TRUNCATE, not DELETE: the server here runs without autovacuum, and a DELETE would leave
    # the next writer (the close) inserting beside millions of dead rows and index entries.
    with db.write() as s:
        s.execute(sa.text("DELETE FROM period_snapshot" if db.is_sqlite
                          else "TRUNCATE period_snapshot"))  # fmt: skip


def _fingerprint(db: Database) -> tuple[int, ...]:
    """What the frozen boards say (rows, ranks, values, who holds which rank): the close and
    the anchor must have written the same boards."""
    with db.session() as s:
        row = s.execute(sa.text(
            "SELECT count(*), sum(rank), sum(value), sum(CAST(rank AS BIGINT) * participant_id),"
            " count(DISTINCT audience || scope || metric) FROM period_snapshot"
        )).one()  # fmt: skip
    return tuple(int(v or 0) for v in row)


class _Reader(threading.Thread):
    """Rank queries (a board page's view of the live board) from a thread of their own, until
    ``limit`` samples or ``stop``; a failed query ends the benchmark, never a shorter sample."""

    def __init__(self, boards: Leaderboards, program: Program, reps: int, out: list[float],
                 limit: int) -> None:  # fmt: skip
        super().__init__(name="rank-queries")
        self.args = boards, program, reps, out, limit
        self.stop = threading.Event()
        self.failed: BaseException | None = None

    def run(self) -> None:
        boards, program, reps, out, limit = self.args
        rng = random.Random(7 + len(out))
        spec = BoardSpec(Audience.REPS, Scope(ScopeKind.EVERYONE), Metric.POINTS, LIVE)
        try:
            while not self.stop.is_set() and len(out) < limit:
                started = time.perf_counter()
                boards.view(program, spec, you=rng.randint(1, max(1, reps // 100)))
                out.append(time.perf_counter() - started)
                time.sleep(0.002)
        except BaseException as exc:
            self.failed = exc

    def finish(self) -> None:
        self.stop.set()
        self.join()
        if self.failed is not None:
            raise RuntimeError("a rank query failed; the figures would be wrong") from self.failed


def _sample(boards: Leaderboards, program: Program, reps: int, out: list[float],
            limit: int) -> None:  # fmt: skip
    """``limit`` rank queries, from a thread of their own as during the close."""
    reader = _Reader(boards, program, reps, out, limit)
    reader.start()
    reader.join()
    reader.finish()


IDLE_BEFORE = 300  # idle rank queries before the close; after it, as many as during it...
IDLE_MOST = 5_000  # ...up to this many (a full-size close takes minutes; p99 is steady by then)


def run(quick: bool) -> Iterator[Figure]:
    reps = 20_000 if quick else int(os.environ.get("PODIUM_BENCH_CLOSE_REPS", 1_000_000))
    url = os.environ.get("PODIUM_BENCH_DATABASE_URL") or os.environ.get(
        "PODIUM_TEST_DATABASE_URL", ""
    )
    db, name = _database(reps)
    where = "SQLite" if db.is_sqlite else "PostgreSQL"
    try:
        program = _seed(db, reps)
        anchors = [_anchor(db, program)]
        expected = _fingerprint(db)
        _empty_snapshots(db)
        boards = Leaderboards(db, view_max_age=0.1)
        warm: list[float] = []
        _sample(boards, program, reps, warm, 50)  # builds the board
        idle: list[float] = []
        _sample(boards, program, reps, idle, IDLE_BEFORE)
        busy: list[float] = []
        reader = _Reader(boards, program, reps, busy, 10**9)
        reader.start()
        started = time.perf_counter()
        outcome = close_period(db, program, PERIOD, NOW)
        elapsed = time.perf_counter() - started
        reader.finish()
        assert outcome.status == "closed" and outcome.record is not None
        frozen = _fingerprint(db)
        assert frozen == expected, f"the close froze other boards: {frozen} != {expected}"
        # Idle again, taken alike, until both sides have as many samples (noise on a shared
        # machine drifts: before and after bracket the close).
        _sample(boards, program, reps, idle, min(len(busy), IDLE_MOST))
        anchors.append(_anchor(db, program))
        anchor = sum(anchors) / len(anchors)
        yield Figure(f"close of {reps:,} reps ({where})", elapsed, "s", anchor, "<=3",
                     "one INSERT … SELECT … RANK() OVER (…) of the same boards, mean of one"
                     " before and one after")  # fmt: skip
        yield Figure(f"rank query p99 during the close ({where}, n={len(busy)})",
                     percentile(busy, 0.99) * 1000, "ms", percentile(idle, 0.99) * 1000, "<=2",
                     f"the same queries idle, n={len(idle)}")  # fmt: skip
    finally:
        db.dispose()
        _drop(url, name)
        if db.is_sqlite:  # the temporary directory of the SQLite file
            shutil.rmtree(Path(db.url.split("///", 1)[1]).parent, ignore_errors=True)
