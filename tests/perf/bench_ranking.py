"""Ranking engine: the in-process ``RankIndex`` and ``RedisRanking`` against bare redis-py.

Four queries, each asked about 5,000 randomly chosen participants: rank of one participant,
top 10, ±5 around one, and an update (add). The in-process index answers them at 10k, 100k and
1M participants (quick: 10k and 100k), the sizes taking turns; then, on the largest board, the
two Redis engines take turns. The garbage collector is paused while a turn is timed: a
collection is triggered by whatever allocated last and walks every object in the process, so it
would land on one engine or size at random and say nothing about any of them. The anchor is the least a Redis leaderboard can cost: bare
redis-py commands on one sorted set with no tie rule (ZREVRANK, ZREVRANGE, ZREVRANK then
ZREVRANGE, ZINCRBY) on the local Redis.

Figures, p99 latency in µs (each names the p50s beside it):
- in-process / bare Redis at the largest size, every query: goal <= 0.3 (serving from memory
  must beat a network round trip by far, or there is no reason to have it);
- RedisRanking / bare Redis at the largest size: goal <= 1.5 (the tie rule, the competition
  rank and atomic updates cost at most half again);
- in-process at each larger size / at 10k: goal <= 1.5 (log(1M)/log(10k) = 1.5: the latency
  must grow like O(log n)).
And memory: the RSS an in-process board of 1M (quick: 100k) participants adds, against a budget
of 500 bytes per participant (500 MB for a million), measured in a fresh interpreter.

Redis: PODIUM_TEST_REDIS_URL, default redis://127.0.0.1:6379/0; keys are removed at the end.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

from app.ranking import RedisRanking
from game.ranking import RankIndex, Row
from tests.perf.figures import Figure, percentile

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
SAMPLES = 5_000  # per query and engine
BLOCK = 250  # samples an engine takes in a row
WARMUP = 25  # uncounted calls before each block
CHUNK = 10_000
BUDGET_BYTES_PER_PARTICIPANT = 500
QUERIES = ("rank", "top 10", "±5 around", "add")
BARE = {
    "rank": "ZREVRANK",
    "top 10": "ZREVRANGE",
    "±5 around": "ZREVRANK+ZREVRANGE",
    "add": "ZINCRBY",
}


def label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"


def population(size: int, seed: int) -> list[Row]:
    """Points the way a real board holds them: most participants low, a long tail, many ties."""
    rnd = random.Random(seed)
    seqs = list(range(1, size + 1))
    rnd.shuffle(seqs)
    return [(pid, int(rnd.expovariate(1 / 1000)), seqs[pid]) for pid in range(size)]


@dataclass(frozen=True)
class Latency:
    p50: float  # µs
    p99: float  # µs


Queries = dict[str, Callable[[int], object]]


def in_process(rows: list[Row]) -> Queries:
    index = RankIndex(rows)
    seq = iter(range(10**12, 10**13))
    return {
        "rank": index.standing,
        "top 10": lambda _: index.top(10),
        "±5 around": lambda pid: index.around(pid, 5),
        "add": lambda pid: index.add(pid, 3, next(seq)),
    }


def bare_redis(client: redis.Redis, key: str, rows: list[Row]) -> Queries:
    for start in range(0, len(rows), CHUNK):
        client.zadd(key, {str(pid): value for pid, value, _ in rows[start : start + CHUNK]})

    def around(pid: int) -> object:
        position = client.zrevrank(key, str(pid))
        return client.zrevrange(key, max(0, position - 5), position + 5, withscores=True)

    return {
        "rank": lambda pid: client.zrevrank(key, str(pid)),
        "top 10": lambda _: client.zrevrange(key, 0, 9, withscores=True),
        "±5 around": around,
        "add": lambda pid: client.zincrby(key, 3, str(pid)),
    }


def redis_ranking(backend: RedisRanking, board: str, rows: list[Row]) -> Queries:
    backend.replace(board, rows, chunk=CHUNK)
    seq = iter(range(10**12, 10**13))
    return {
        "rank": lambda pid: backend.standing(board, pid),
        "top 10": lambda _: backend.top(board, 10),
        "±5 around": lambda pid: backend.around(board, pid, 5),
        "add": lambda pid: backend.add(board, pid, 3, next(seq)),
    }


def measure(engines: dict[str, tuple[Queries, list[int]]]) -> dict[str, dict[str, Latency]]:
    """Latency per engine and query; each engine asks about its own sample of participants.

    The engines take turns every ``BLOCK`` samples. The machine may be shared (CI runners,
    other processes): taking turns makes a busy spell slow every engine alike, so the ratios
    stay meaningful. The first calls of every turn warm the engine up again and are not counted.
    """
    clock = time.perf_counter_ns
    result: dict[str, dict[str, Latency]] = {name: {} for name in engines}
    gc.collect()
    gc.disable()
    try:
        samples = _timed(engines, clock)
    finally:
        gc.enable()
    for query, taken_by in samples.items():
        for name, taken in taken_by.items():
            result[name][query] = Latency(
                percentile(taken, 0.5) / 1000, percentile(taken, 0.99) / 1000
            )
    return result


def _timed(
    engines: dict[str, tuple[Queries, list[int]]], clock: Callable[[], int]
) -> dict[str, dict[str, list[float]]]:
    """Nanoseconds per call, per query and engine."""
    every: dict[str, dict[str, list[float]]] = {}
    for query in QUERIES:
        samples: dict[str, list[float]] = {name: [] for name in engines}
        for start in range(0, SAMPLES, BLOCK):
            for name, (queries, participants) in engines.items():
                call, taken = queries[query], samples[name]
                warm_up = participants[start - WARMUP : start] if start else participants[-WARMUP:]
                for pid in warm_up:
                    call(pid)
                for pid in participants[start : start + BLOCK]:
                    began = clock()
                    call(pid)
                    taken.append(clock() - began)
        every[query] = samples
    return every


def sample(size: int) -> list[int]:
    rnd = random.Random(size)
    return [rnd.randrange(size) for _ in range(SAMPLES)]


MEMORY_PROBE = """
import gc, sys
from game.ranking import RankIndex
from tests.perf.bench_ranking import population

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

rows = population(int(sys.argv[1]), seed=2)
gc.collect()
before = rss()
index = RankIndex(rows)
gc.collect()
print(rss() - before)
"""


def index_memory(size: int) -> int:
    """Bytes of RSS that an index of ``size`` participants adds, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(size)],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.getcwd(),
    )
    return int(done.stdout.strip())


def run(quick: bool) -> Iterator[Figure]:
    sizes = QUICK_SIZES if quick else SIZES
    url = os.environ.get("PODIUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    prefix = f"podium-bench:{uuid.uuid4().hex}:"
    backend = RedisRanking(client, prefix=prefix)
    small, large = sizes[0], sizes[-1]
    try:
        # In-process first, every size at once and taking turns, with Redis idle: a Redis on
        # the same cores, walking a big sorted set between two turns, would empty the caches
        # the index works from, and that is not the index's cost.
        engines = {
            label(size): (in_process(population(size, seed=1)), sample(size)) for size in sizes
        }
        gc.collect()  # now, rather than in the middle of a measurement
        own = measure(engines)
        del engines
        # Then bare redis-py and RedisRanking on the largest board, taking turns.
        rows = population(large, seed=1)
        board = f"bench:{large}"
        engines = {
            "bare": (bare_redis(client, f"{prefix}bare", rows), sample(large)),
            "RedisRanking": (redis_ranking(backend, board, rows), sample(large)),
        }
        del rows
        gc.collect()
        shared = measure(engines)
        del engines
        client.unlink(f"{prefix}bare", *backend.keys(board))
        at = {"in-process": own[label(large)], **shared}
        for engine, goal in (("in-process", "<=0.3"), ("RedisRanking", "<=1.5")):
            for query in QUERIES:
                ours, bare = at[engine][query], at["bare"][query]
                yield Figure(
                    f"{engine} p99 {query} @{label(large)}",
                    ours.p99,
                    "µs",
                    bare.p99,
                    goal,
                    f"redis-py {BARE[query]}; p50 {ours.p50:.1f} vs {bare.p50:.1f} µs",
                )
        for size in sizes[1:]:
            for query in QUERIES:
                ours, base = own[label(size)][query], own[label(small)][query]
                yield Figure(
                    f"in-process p99 {query} @{label(size)} vs @{label(small)}",
                    ours.p99,
                    "µs",
                    base.p99,
                    "<=1.5",
                    f"p50 {ours.p50:.1f} vs {base.p50:.1f} µs",
                )
        grown = index_memory(large)
        yield Figure(
            f"in-process RSS of a {label(large)} board",
            grown / 1e6,
            "MB",
            large * BUDGET_BYTES_PER_PARTICIPANT / 1e6,
            "<=1.0",
            f"budget {BUDGET_BYTES_PER_PARTICIPANT} B/participant",
        )
    finally:
        leftovers = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if leftovers:
            client.unlink(*leftovers)
        client.close()
