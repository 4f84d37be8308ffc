"""Processes for the live benchmark (``bench_live``), each started by it on a loopback port:

``python -m tests.perf.live_anchor podium DATABASE_URL PORT``
    the app on one uvicorn worker, with the options ``app.cli`` runs it with
    (``app.server.SERVER_OPTIONS``: Podium's websocket protocol, compression off).
``python -m tests.perf.live_anchor anchor PORT SIZE``
    the anchor: a minimal ``websockets`` server (compression off) that sends every client a
    SIZE-byte message on connect and, on each message from a client on ``/trigger``, answers
    it and then ``broadcast``s a SIZE-byte message to every other client.
``python -m tests.perf.live_anchor clients URL N ORIGIN``
    N websocket clients (compression off) on URL. Prints ``ready SIZE`` once every one has its
    first message (SIZE: its length in bytes), then ``round R T`` once every one has its
    message R (T: ``time.monotonic()`` when the last of them got it, a clock all processes on
    the machine share), and ``error ...`` if a connection fails. Exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
from typing import Any


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """The resident set of a process (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def serve_podium(url: str, port: int) -> None:
    import uvicorn

    from app.db import Database
    from app.server import SERVER_OPTIONS
    from app.web import create_app

    raise_file_limit()
    app = create_app(db=Database(url))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
        **SERVER_OPTIONS,  # as app.cli runs it; the anchor's compression is off too
    )


async def _anchor(port: int, size: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()
    message = "x" * size

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/trigger":
            async for _ in ws:
                # Answer first, then push: the app answers the API before it renders and sends.
                await ws.send("ok")
                broadcast(clients, message)
            return
        clients.add(ws)
        try:
            await ws.send(message)  # the resync every client of the app gets on connect
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096):
        print("ready", flush=True)
        await asyncio.Future()


def serve_anchor(port: int, size: int) -> None:
    raise_file_limit()
    asyncio.run(_anchor(port, size))


async def _clients(url: str, n: int, origin: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    raise_file_limit()
    counts: list[int] = []  # clients that have message R
    lasts: list[float] = []  # when the last of them got it
    size = 0
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def got(index: int, message: Any) -> None:
        nonlocal size
        now = time.monotonic()
        while len(counts) <= index:
            counts.append(0)
            lasts.append(0.0)
        counts[index] += 1
        lasts[index] = max(lasts[index], now)
        if counts[index] == n:
            if index == 0:
                size = len(message.encode() if isinstance(message, str) else message)
                print(f"ready {size}", flush=True)
            else:
                print(f"round {index} {lasts[index]:.6f}", flush=True)

    gate = asyncio.Semaphore(64)  # handshakes in flight: the server's backlog is finite
    sockets: list[Any] = []

    async def one() -> None:
        try:
            async with gate:
                ws = await connect(
                    url,
                    origin=Origin(origin),
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                )
            sockets.append(ws)
            index = 0
            async for message in ws:
                got(index, message)
                index += 1
            if not done.is_set():
                print(f"error closed {ws.close_code}", flush=True)
        except Exception as exc:  # reported to the benchmark, which then fails
            if not done.is_set():
                print(f"error {type(exc).__name__}: {exc}", flush=True)

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until stdin closes
    done.set()
    sys.stdout.flush()
    del tasks
    os._exit(0)  # the kernel closes every socket at once; a polite close of each is slow


def main() -> None:
    what = sys.argv[1]
    if what == "podium":
        serve_podium(sys.argv[2], int(sys.argv[3]))
    elif what == "anchor":
        serve_anchor(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "clients":
        asyncio.run(_clients(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        raise SystemExit(f"unknown: {what}")


if __name__ == "__main__":
    main()
