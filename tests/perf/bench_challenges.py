"""What live challenges add to ingestion: 100 live challenges over 1M participants.

Both sides ingest the same events through ``app/ingest.py`` into copies of the same migrated,
populated database. The anchor is the plain ledger write (no challenges); the figure is what
keeping challenge progress current adds per event (with challenges minus without), so the
ratio is the share challenges add to ingest time. Goal: at most 50 %.

Progress is derived from the ledger (``app.challenges.ChallengeProgress``): ingestion writes
nothing for challenges, and a process serving them folds the new entries in after each write.
So the "with challenges" side, after each batch, does what a serving process does after a
write: the live catch-up asks ``ChallengeBoards.moves`` for the batch's participants, which
folds the batch's entries into the 100 challenges (one ledger read) and returns their new
rows. The folds already hold 1M participants' progress (100k with ``--quick``), spread over
the challenges, so every update lands in tables of that size.

The challenges are shaped like a real program's: most are for a few chosen partners, some for a
region, a couple program-wide (by league), with a mix of metrics and SKU filters.
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

import sqlalchemy as sa
from sqlmodel import col, select

from app.challenges import PROGRESS, ChallengeBoards
from app.db import Database, make_engine, upgrade
from app.ingest import ingest_events
from app.models import Challenge, League, Partner, Program, Region, Rep
from app.programs import current_program
from tests.factories import make_world
from tests.perf.bench_ingest import NOW, _events, _fresh
from tests.perf.figures import Figure

CHALLENGES = 100
WINDOW = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))


def _challenges(db: Database) -> None:
    """100 live challenges."""
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


def _hold(db: Database, program: Program, participants: int) -> ChallengeBoards:
    """The serving process's state before the timed run: its folds of the 100 challenges,
    holding ``participants`` rows between them (ids from 10M up, beyond the world's own reps:
    the tables' size, not their owners, is what an update pays for)."""
    boards = ChallengeBoards(db)
    with db.session() as s:
        assert program.id is not None
        boards.moves(program, set(), 0)  # builds the program's folds from the ledger
        fold = PROGRESS.fold(s, program.id)
    per = participants // CHALLENGES
    for c in fold.index.challenges:
        table = fold.tables[c.id]
        for n in range(per):
            table[10_000_000 + n] = (n % 97, 0, None, "")
            key = (c.audience, 10_000_000 + n)
            fold.of_participant[key] = (*fold.of_participant.get(key, ()), c.id)
    return boards


def _ingest(
    template: Path, workdir: Path, events: list[dict[str, Any]], batch: int, held: int | None
) -> float:
    """Seconds per event, ingesting ``events`` in batches into a fresh copy of ``template``;
    with ``held`` participants in the challenges' folds, keeping them current after each."""
    path = _fresh(workdir, template)
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    boards = _hold(db, program, held) if held is not None else None
    reps = {e["rep"]: i for i, e in enumerate(events)}
    with db.session() as s:
        ids = dict(s.execute(sa.select(col(Rep.code), col(Rep.id))).all())
    who = {code: ("rep", ids[code]) for code in reps}
    after = 0
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        chunk = events[i : i + batch]
        report = ingest_events(db, program, "bench", chunk, NOW)
        assert report.accepted == len(chunk), report.rejected[:3]
        if boards is not None:
            moved = boards.moves(program, {who[e["rep"]] for e in chunk}, after)
            assert moved, "the batch moved no challenge"
            after = report.entry_ids[-1]
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
        _challenges(db)
        db.dispose()  # the last connection checkpoints the WAL into the file we copy

        sizes = {1: 300 if quick else 1_000, 100: 3_000 if quick else 10_000}
        for batch, n in sizes.items():
            events = _events(n, seed=batch)
            base = extra = float("inf")
            for _ in range(3 if quick else 5):  # alternate, keep the best of each: noise only slows
                without = _ingest(plain, workdir, events, batch, None)
                with_ = _ingest(with_challenges, workdir, events, batch, participants)
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
