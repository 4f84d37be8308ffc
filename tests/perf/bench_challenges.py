"""What live challenges add to ingestion: 100 live challenges over 1M participants.

Both sides ingest the same events through ``app/ingest.py`` into copies of the same migrated,
populated database. The anchor is the plain ledger write (no challenges); the figure is what
keeping challenge progress adds per event (with challenges minus without), so the ratio is the
share challenges add to ingest time. Goal: at most 50 %.

The challenges are shaped like a real program's: most are for a few chosen partners, some for a
region, a couple program-wide (by league), with a mix of metrics and SKU filters. Their progress
table already holds 1M participants' rows (100k with ``--quick``), so every upsert lands in an
index of that size.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from app.db import Database, make_engine, upgrade
from app.ingest import ingest_events
from app.models import Challenge, League, Partner, Region
from app.programs import current_program
from tests.factories import make_world
from tests.perf.bench_ingest import NOW, _events, _fresh
from tests.perf.figures import Figure

CHALLENGES = 100
WINDOW = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))


def _challenges(db: Database, participants: int) -> None:
    """100 live challenges and ``participants`` progress rows spread over them."""
    rng = random.Random(7)
    with db.write() as s:
        program = current_program(s)
        assert program is not None and program.id is not None
        partners = [p.id for p in s.exec(select(Partner)).all() if p.id is not None]
        regions = [r.id for r in s.exec(select(Region)).all() if r.id is not None]
        leagues = [lg.id for lg in s.exec(select(League)).all() if lg.id is not None]
        rows = []
        for i in range(CHALLENGES):
            scope: dict[str, Any] = {}
            if i < 2:
                scope["league_ids"] = leagues
            elif i < 10:
                scope["region_ids"] = [regions[i % len(regions)]]
            else:
                scope["partner_ids"] = rng.sample(partners, 3)
            rows.append(
                Challenge(
                    program_id=program.id,
                    name=f"Challenge {i}",
                    kind=("target", "race", "top", "team")[i % 4],
                    audience="rep" if i % 3 else "partner",
                    metric=("units", "revenue", "points")[i % 3],
                    skus=["TV-55"] if i % 5 == 0 else [],
                    team_by="partner" if i % 4 == 3 else None,
                    target=50 if i % 4 in (0, 1) else None,
                    winners=3,
                    starts_at=WINDOW[0],
                    ends_at=WINDOW[1],
                    status="live",
                    **scope,
                )
            )
        s.add_all(rows)
        s.flush()
        ids = [c.id for c in rows]
    # Participants beyond the world's own reps (ids from 10M up): the table's size, not its
    # owners, is what an upsert pays for.
    conn = db.engine.raw_connection()
    try:
        cursor = conn.cursor()
        per = participants // CHALLENGES
        cursor.executemany(
            "INSERT INTO challenge_entry (challenge_id, kind, participant_id, team, value, "
            "value_seq, reached_seq) VALUES (?, 'rep', ?, '', ?, 0, NULL)",
            ((cid, 10_000_000 + n, n % 97) for cid in ids for n in range(per)),
        )
        conn.commit()
    finally:
        conn.close()


def _ingest(template: Path, workdir: Path, events: list[dict[str, Any]], batch: int) -> float:
    """Seconds per event, ingesting ``events`` in batches into a fresh copy of ``template``."""
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
    return elapsed / len(events)


def run(quick: bool) -> Iterator[Figure]:
    participants = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        plain = workdir / "plain.db"
        engine = make_engine(f"sqlite:///{plain}")
        upgrade(engine)
        engine.dispose()
        world = Database(f"sqlite:///{plain}")
        make_world(world, partners=200, reps_per_partner=5)
        world.dispose()
        with_challenges = workdir / "challenges.db"
        shutil.copy(plain, with_challenges)
        db = Database(f"sqlite:///{with_challenges}")
        _challenges(db, participants)
        db.dispose()  # the last connection checkpoints the WAL into the file we copy

        sizes = {1: 300 if quick else 1_000, 100: 3_000 if quick else 10_000}
        for batch, n in sizes.items():
            events = _events(n, seed=batch)
            base = extra = float("inf")
            for _ in range(3):  # alternate, keep the best of each: noise only slows
                without = _ingest(plain, workdir, events, batch)
                with_ = _ingest(with_challenges, workdir, events, batch)
                base = min(base, without)
                extra = min(extra, with_)
            yield Figure(
                f"challenge progress per event, batch {batch} ({CHALLENGES} live, "
                f"{participants:,} in them)",
                max(extra - base, 0.0) * 1e6,
                "µs/ev",
                base * 1e6,
                "<=0.5",
                "plain ingest of the same events (ledger write)",
            )
