"""Ingest throughput through Podium's one ingest path, beside bare sqlite3 writing the same rows.

Both sides write into copies of the same migrated database (same tables, indexes, triggers and
pragmas) in one transaction per batch: events, ledger entries and running-total upserts. Podium
additionally validates, de-duplicates and scores every event; the ratio is what that costs.
"""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.db import Database, make_engine, upgrade
from app.ingest import ingest_events
from app.programs import current_program
from tests.factories import make_world
from tests.perf.figures import Figure

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        p = rng.randrange(200)
        when = start + timedelta(seconds=rng.randrange(80 * 86400))
        out.append({
            "id": f"ev-{seed}-{i}", "type": "sale", "partner": f"PT{p:03d}",
            "rep": f"R{p:03d}{rng.randrange(5):02d}", "sku": rng.choice(["TV-55", "AC-1PK", "RC-01"]),
            "units": rng.randint(1, 12), "amount": rng.randint(1, 400) * 100_000,
            "occurred_at": when.isoformat(), "invoice": f"INV/{seed}/{i:07d}",
        })
    return out


def _fresh(workdir: Path, template: Path) -> Path:
    """A new copy of the template under a new name (never beside an old run's -wal file)."""
    path = workdir / f"run-{next(_RUNS)}.db"
    shutil.copy(template, path)
    return path


_RUNS = itertools.count()


def _podium(template: Path, workdir: Path, events: list[dict[str, Any]], batch: int) -> float:
    path = _fresh(workdir, template)
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        report = ingest_events(db, program, "bench", events[i : i + batch], NOW)
        assert report.accepted == len(events[i : i + batch]), report.rejected[:3]
    elapsed = time.perf_counter() - started
    db.dispose()
    return len(events) / elapsed


def _rows(template: Path, events: list[dict[str, Any]]) -> list[tuple[list[Any], list[Any], list[Any]]]:
    """The exact rows Podium writes, precomputed, so the anchor only inserts."""
    conn = sqlite3.connect(template)
    partners = dict(conn.execute("select code, id from partner"))
    reps = dict(conn.execute("select code, id from rep"))
    conn.close()
    rows = []
    for e in events:
        when = datetime.fromisoformat(e["occurred_at"]).astimezone(UTC).replace(tzinfo=None)
        pk = f"{when.year}-{when.month:02d}"
        pid, rid = partners[e["partner"]], reps[e["rep"]]
        ev = [1, "anchor", e["id"], "sale", pid, rid, e["sku"], e["units"], e["amount"] * 100,
              e["invoice"], e["invoice"].lower() + "|" + e["sku"], when, pk, "h" * 64, when]
        points = e["units"] * 10
        entry = [1, pid, rid, "earn", points, pk, when, when, ""]
        totals = [(key, kind, who, points, e["units"], e["amount"] * 100)
                  for kind, who in (("partner", pid), ("rep", rid)) for key in (pk, "all")]
        rows.append((ev, entry, totals))
    return rows


UPSERT = """
insert into period_total (program_id, period_key, kind, participant_id, points, units,
  revenue_minor, events, points_seq, units_seq, revenue_seq)
values (1, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
on conflict (program_id, period_key, kind, participant_id) do update set
  points = points + excluded.points, units = units + excluded.units,
  revenue_minor = revenue_minor + excluded.revenue_minor, events = events + excluded.events,
  points_seq = excluded.points_seq, units_seq = excluded.units_seq, revenue_seq = excluded.revenue_seq
"""


def _bare(template: Path, workdir: Path, rows: list[Any], batch: int) -> float:
    path = _fresh(workdir, template)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        conn.execute("BEGIN IMMEDIATE")
        first_event = conn.execute("select coalesce(max(id), 0) from event").fetchone()[0] + 1
        conn.executemany(
            "insert into event (program_id, source, external_id, type, partner_id, rep_id, sku, "
            "units, amount_minor, invoice, line_key, occurred_at, period_key, body_hash, received_at) "
            "values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [r[0] for r in chunk])
        first_entry = conn.execute("select coalesce(max(id), 0) from ledger_entry").fetchone()[0] + 1
        conn.executemany(
            "insert into ledger_entry (program_id, partner_id, rep_id, event_id, kind, points, "
            "period_key, occurred_at, created_at, memo) values (?,?,?,?,?,?,?,?,?,?)",
            [[*r[1][:3], first_event + j, *r[1][3:]] for j, r in enumerate(chunk)])
        conn.executemany(UPSERT, [
            (*t, first_entry + j, first_entry + j, first_entry + j)
            for j, r in enumerate(chunk) for t in r[2]])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def run(quick: bool) -> Iterator[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        template = workdir / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        engine.dispose()
        world = Database(f"sqlite:///{template}")
        make_world(world, partners=200, reps_per_partner=5)
        world.dispose()  # closing the last connection checkpoints the WAL into the file we copy
        # This process stands in for a server: the server loads every module and freezes what
        # startup made before it takes requests (app.web), so the benchmark does the same.
        from app.web import freeze_startup_heap

        freeze_startup_heap()
        sizes = {1: 300 if quick else 1_000, 100: 3_000 if quick else 10_000, 1000: 10_000 if quick else 30_000}
        goals = {1: ">=0.25", 100: ">=0.4", 1000: ">=0.5"}
        rounds = 3  # alternate anchor and Podium, keep the best of each: noise only slows
        for batch, n in sizes.items():
            events = _events(n, seed=batch)
            rows = _rows(template, events)
            bare = podium = 0.0
            for _ in range(rounds):
                bare = max(bare, _bare(template, workdir, rows, batch))
                podium = max(podium, _podium(template, workdir, events, batch))
            yield Figure(f"ingest events/s, batch {batch} ({n} events)", podium, "ev/s", bare,
                         goals[batch], "bare sqlite3, same rows and indexes")
