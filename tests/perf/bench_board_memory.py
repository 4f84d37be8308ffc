"""Memory of the in-process ranking while a whole program is being watched.

A synthetic program of 1M reps (quick: 100k) held in memory, no database: 7 regions, 3 leagues
and partner teams of 20 reps; every rep has a value and a seq (< 2**40) for each of the five
metrics, drawn from seeded generators, so every board of the program can be loaded by board key
the way ``Leaderboards`` loads it from ``period_total``. "Every scope and metric of the current
period being served" is one watched board of each scope kind for each metric: everyone, one
region, one league and one team, 20 boards and about 1.48M rows per metric (7.4M in all at 1M
reps). Each is read (top 10 and one participant's standing), which builds it and keeps it held.

Figures:
- RSS growth (VmRSS after ``gc.collect()``) from before the first board is built to after all
  20 are held, against the budget of 500 MB for a 1M-participant program (quick: 50 MB for
  100k); goal <= 1.0.
- boards held / boards the program has for the period (every scope of every metric): boards
  are built on demand only, so what is held follows what is watched; goal <= 0.001.
- boards still held after ``evict_idle`` once the clock has moved past ``idle_seconds``, against
  the boards held before; goal <= 0.0 (an unwatched board costs nothing).

The ranking runs with its default caps on boards and participants held, which must let all 20
boards be held at once (the benchmark fails if one was evicted).
"""

from __future__ import annotations

import gc
import random
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.ranking import InProcessRanking, board_key
from game.boards import Metric
from game.ranking import Row
from tests.perf.figures import Figure

PARTICIPANTS = 1_000_000
QUICK_PARTICIPANTS = 100_000
BUDGET_MB_PER_MILLION = 500
REGIONS = 7
LEAGUES = 3
TEAM_SIZE = 20
PROGRAM = 1
PERIOD = "2026-11"
FIRST_PID = 100_001  # participant ids as a database hands them out, not 0..n-1
SEQ_LIMIT = 2**40
IDLE_SECONDS = 900.0


def rss() -> int:
    """Resident set size of this process in bytes, after a full collection."""
    gc.collect()
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


@dataclass
class Program:
    """The store: per metric, every rep's value and seq, and where each rep belongs."""

    size: int
    values: dict[str, array[int]]
    seqs: dict[str, array[int]]

    @classmethod
    def make(cls, size: int) -> Program:
        draws: dict[Metric, Callable[[random.Random], int]] = {
            Metric.POINTS: lambda r: int(r.expovariate(1 / 1_000)),
            Metric.UNITS: lambda r: int(r.expovariate(1 / 40)),
            Metric.REVENUE: lambda r: int(r.expovariate(1 / 50_000_000)) * 100,  # rupiah, minor
            Metric.TARGET_PCT: lambda r: int(r.expovariate(1 / 9_000)),  # basis points
            Metric.GROWTH_PCT: lambda r: int(r.gauss(1_500, 4_000)),  # may be negative
        }
        values: dict[str, array[int]] = {}
        seqs: dict[str, array[int]] = {}
        for number, metric in enumerate(Metric):
            rnd = random.Random(1_000 + number)
            draw = draws[metric]
            values[metric.value] = array("q", (draw(rnd) for _ in range(size)))
            seqs[metric.value] = array("q", (rnd.randrange(SEQ_LIMIT) for _ in range(size)))
        return cls(size, values, seqs)

    # where a rep belongs: rep i is in team i // 20; teams are dealt to regions and leagues
    @staticmethod
    def team(i: int) -> int:
        return i // TEAM_SIZE

    @staticmethod
    def region(i: int) -> int:
        return (i // TEAM_SIZE) % REGIONS

    @staticmethod
    def league(i: int) -> int:
        return (i // TEAM_SIZE * 7919) % LEAGUES

    def members(self, scope: str) -> range | Iterator[int]:
        kind, _, code = scope.partition(":")
        if kind == "everyone":
            return range(self.size)
        number = int(code[1:])
        if kind == "team":
            return range(number * TEAM_SIZE, min(self.size, (number + 1) * TEAM_SIZE))
        where = self.region if kind == "region" else self.league
        return (i for i in range(self.size) if where(i) == number)

    def load(self, board: str) -> Iterator[Row]:
        """The rows of one board, by board key (``1:2026-11:reps.region:R3:points``)."""
        _, _, rest = board.split(":", 2)
        audience_scope, _, metric = rest.rpartition(":")
        scope = audience_scope.removeprefix("reps.")
        values, seqs = self.values[metric], self.seqs[metric]
        for i in self.members(scope):
            yield FIRST_PID + i, values[i], seqs[i]

    def boards_in_period(self) -> int:
        teams = -(-self.size // TEAM_SIZE)
        return len(Metric) * (1 + REGIONS + LEAGUES + teams)


def watched(program: Program) -> list[tuple[str, int]]:
    """One board of each scope kind for each metric, and a participant to look up on it."""
    rep = program.size // 2 + 3
    scopes = (
        "everyone",
        f"region:R{program.region(rep)}",
        f"league:L{program.league(rep)}",
        f"team:T{program.team(rep)}",
    )
    return [
        (board_key(PROGRAM, PERIOD, f"reps.{scope}", metric.value), FIRST_PID + rep)
        for metric in Metric
        for scope in scopes
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(quick: bool) -> Iterator[Figure]:
    size = QUICK_PARTICIPANTS if quick else PARTICIPANTS
    budget_mb = BUDGET_MB_PER_MILLION * size / 1_000_000
    program = Program.make(size)
    boards = watched(program)
    clock = Clock()
    ranking = InProcessRanking(program.load, idle_seconds=IDLE_SECONDS, clock=clock)
    label = f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"
    before = rss()
    began = time.perf_counter()
    rows = 0
    for board, rep in boards:
        clock.now += 1.0
        assert len(ranking.top(board, 10)) == 10
        assert ranking.standing(board, rep) is not None
        rows += ranking.count(board)
    built = time.perf_counter() - began
    grown = rss() - before
    held = len(ranking.held())
    assert held == len(boards), f"only {held} of {len(boards)} boards held: caps too low"
    yield Figure(
        f"RSS growth, {len(boards)} boards of a {label} program held",
        grown / 1e6,
        "MB",
        budget_mb,
        "<=1.0",
        f"budget; {rows / 1e6:.2f}M rows, {grown / rows:.0f} B/row, built in {built:.0f} s",
    )
    yield Figure(
        "boards held / boards the period has",
        held,
        "boards",
        program.boards_in_period(),
        "<=0.001",
        "every scope of every metric; built on first read only",
    )
    clock.now += IDLE_SECONDS + 1.0
    ranking.evict_idle()
    after = rss()
    yield Figure(
        "boards held after idle eviction",
        len(ranking.held()),
        "boards",
        held,
        "<=0.0",
        f"boards held before; RSS growth then {(after - before) / 1e6:.0f} MB",
    )
