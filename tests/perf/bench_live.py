"""Live boards with many connected clients, beside the ``websockets`` library's own broadcast.

Podium: the app on one uvicorn worker (a seeded demo database), N websocket clients on the same
board. Each round posts a sale through the API that moves that board; latency is from the API's
answer to the moment the *last* client has the pushed fragment. Memory per connection is the
server's resident memory with the N clients connected (after the rounds) less what it was
before they connected, over N.

Anchor, measured the same way in the same run: a minimal ``websockets`` server (compression
off) that, on a trigger, answers it and ``broadcast``s a message of the fragment's size to every
client. The clients (compression off) run in a few processes of their own, the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Origin

from app.db import Database
from app.demo import seed_demo
from app.live import TRIM_AFTER
from tests.perf.figures import Figure, percentile
from tests.perf.live_anchor import raise_file_limit, rss_kib

QUERY = "audience=reps&scope=everyone&metric=points"
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLIENTS_PER_PROCESS = 1000
START_TIMEOUT = 60.0
ROUND_TIMEOUT = 30.0
ANCHOR_NAME = "websockets broadcast, minimal server, same clients"
WARM_CLIENTS = 16  # at once, before measuring: more than the app opens sockets with (4 threads)


@dataclass
class Run:
    latencies: list[float]  # seconds, one per round
    kib_per_connection: float
    size: int  # bytes of the message every client got


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _spawn(*args: str, stdin: bool = False) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.live_anchor",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=ENV,
        cwd=str(ROOT),
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
    else:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


class Clients:
    """N clients spread over a few processes; what they report, merged."""

    def __init__(self, url: str, n: int, origin: str) -> None:
        self.url, self.n, self.origin = url, n, origin
        self.procs: list[asyncio.subprocess.Process] = []
        self.ready: list[int] = []
        self.rounds: dict[int, list[float]] = {}
        self.errors: list[str] = []
        self.changed = asyncio.Event()
        self.readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        shares = -(-self.n // CLIENTS_PER_PROCESS)
        for i in range(shares):
            count = self.n // shares + (1 if i < self.n % shares else 0)
            proc = await _spawn("clients", self.url, str(count), self.origin, stdin=True)
            self.procs.append(proc)
            self.readers.append(asyncio.create_task(self._read(proc)))
        started = time.monotonic()
        # Every connection costs the app a first rendering of the board (a resync): allow for it.
        await self._until(
            lambda: len(self.ready) == len(self.procs), START_TIMEOUT + self.n * 0.05, "connect"
        )
        if os.environ.get("PODIUM_BENCH_DEBUG"):
            print(f"  {self.n} connected in {time.monotonic() - started:.1f}s", file=sys.stderr)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            words = raw.decode().split()
            if words and words[0] == "ready":
                self.ready.append(int(words[1]))
            elif words and words[0] == "round":
                self.rounds.setdefault(int(words[1]), []).append(float(words[2]))
            elif words:
                self.errors.append(raw.decode().strip())
            self.changed.set()
        self.errors.append(f"a client process ended ({await proc.wait()})")
        self.changed.set()

    async def _until(self, test: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            if self.errors:
                raise RuntimeError(f"{what}: {self.errors[:3]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{what}: timed out after {timeout}s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def last_of_round(self, r: int) -> float:
        await self._until(
            lambda: len(self.rounds.get(r, ())) == len(self.procs), ROUND_TIMEOUT, f"round {r}"
        )
        return max(self.rounds[r])

    async def stop(self) -> None:
        for proc in self.procs:
            await _stop(proc)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def _settle(pid: int) -> int:
    """The server's RSS once it has stopped moving (freed buffers, finished handshakes, and
    the app's giving back what a burst of openings freed, ``TRIM_AFTER`` after the burst)."""
    await asyncio.sleep(TRIM_AFTER + 0.5)
    last = rss_kib(pid)
    for _ in range(10):
        await asyncio.sleep(0.2)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


async def _warm(url: str, origin: str, clients: int = WARM_CLIENTS) -> int:
    """A burst of clients, in and out: first-use costs are not per connection. Those are
    imports, templates and caches, and the worker threads (each with its own allocator arena)
    that a burst of openings starts once per process. Returns the size of the first message."""

    async def one() -> int:
        async with connect(url, origin=Origin(origin), compression=None, open_timeout=30) as ws:
            first = await asyncio.wait_for(ws.recv(), 30)
        return len(first.encode() if isinstance(first, str) else first)

    sizes = await asyncio.gather(*(one() for _ in range(clients)))
    return sizes[0]


def _sale(n: int, rep: str) -> dict[str, Any]:
    return {
        "id": f"live-bench-{time.time_ns()}-{n}",
        "type": "sale",
        "partner": rep.rsplit("-", 1)[0],
        "rep": rep,
        "sku": "NE-TV55Q7",
        "units": 3,
        "amount": 3 * 8999000,
        "occurred_at": datetime.now(UTC).isoformat(),
        "invoice": f"LIVE/{time.time_ns()}/{n}",
    }


async def _podium(db_url: str, api_key: str, n: int, rounds: int) -> Run:
    port = _free_port()
    host = f"127.0.0.1:{port}"
    origin, url = f"http://{host}", f"ws://{host}/ws/boards?{QUERY}"
    server = await _spawn("podium", db_url, str(port))
    clients = Clients(url, n, origin)
    try:
        async with httpx.AsyncClient(base_url=origin, timeout=30) as http:
            for _ in range(int(START_TIMEOUT * 10)):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the app did not start")
            headers = {"Authorization": f"Bearer {api_key}"}
            # The board's leader: every sale of theirs changes the rendered rows, so each one
            # is pushed (a sale by someone off the visible rows would change nothing shown).
            page = (await http.get(f"/boards?{QUERY}")).text
            found = re.search(r'href="/participants/([A-Z]+-[0-9]+-[0-9]+)"', page)
            if found is None:
                raise RuntimeError("no rep on the benchmark's board")
            rep = found.group(1)

            async def sell(i: int) -> float:
                answer = await http.post(
                    "/api/v1/events", json={"events": [_sale(i, rep)]}, headers=headers
                )
                t0 = time.monotonic()
                answer.raise_for_status()
                assert answer.json()["accepted"] == 1, answer.text
                return t0

            await sell(0)  # warm the write path
            await _warm(url, origin)
            before = await _settle(server.pid)
            await clients.start()
            size = clients.ready[0]
            latencies = []
            for r in range(1, rounds + 1):
                t0 = await sell(r)
                latencies.append(await clients.last_of_round(r) - t0)
                await asyncio.sleep(0.05)
            after = await _settle(server.pid)
        return Run(latencies, (after - before) / n, size)
    finally:
        await clients.stop()
        await _stop(server)


async def _anchor(n: int, size: int, rounds: int) -> Run:
    port = _free_port()
    host = f"127.0.0.1:{port}"
    origin, url = f"http://{host}", f"ws://{host}/"
    server = await _spawn("anchor", str(port), str(size))
    clients = Clients(url, n, origin)
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), START_TIMEOUT)
        if line.strip() != b"ready":
            raise RuntimeError("the anchor server did not start")
        async with connect(f"ws://{host}/trigger", compression=None) as trigger:
            await trigger.send("go")  # warm the trigger and broadcast paths (no clients yet)
            await asyncio.wait_for(trigger.recv(), 30)
            await _warm(url, origin)
            before = await _settle(server.pid)
            await clients.start()
            latencies = []
            for r in range(1, rounds + 1):
                await trigger.send("go")
                await asyncio.wait_for(trigger.recv(), 30)
                t0 = time.monotonic()
                latencies.append(await clients.last_of_round(r) - t0)
                await asyncio.sleep(0.05)
            after = await _settle(server.pid)
        return Run(latencies, (after - before) / n, size)
    finally:
        await clients.stop()
        await _stop(server)


def run(quick: bool) -> Iterator[Figure]:
    sizes, rounds = ((200, 1000), 8) if quick else ((1000, 5000), 20)
    raise_file_limit()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'podium.db'}"
        db = Database(db_url)
        db.migrate()
        info = seed_demo(db, datetime.now(UTC))
        assert info is not None
        db.dispose()
        for n in sizes:
            app = asyncio.run(_podium(db_url, info.api_key, n, rounds))
            ref = asyncio.run(_anchor(n, app.size, rounds))
            what = f"{n} clients, {app.size / 1024:.1f} KiB fragment"
            for q, label in ((0.5, "p50"), (0.99, "p99")):
                yield Figure(
                    f"live push to last client {label}, {what}",
                    percentile(app.latencies, q) * 1000,
                    "ms",
                    percentile(ref.latencies, q) * 1000,
                    "<=2.0",
                    ANCHOR_NAME,
                )
            yield Figure(
                f"live memory per connection, {n} clients",
                app.kib_per_connection,
                "KiB",
                ref.kib_per_connection,
                "<=1.5",
                ANCHOR_NAME,
            )
