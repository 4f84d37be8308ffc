"""A small HTTP/1.1 keep-alive load generator (asyncio streams), cheap enough per request that
the server, not the client, is what a benchmark measures. Loopback only."""

from __future__ import annotations

import asyncio
import time


async def _connection(
    host: str, port: int, request: bytes, deadline: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"{request.split(b' ')[1].decode()} answered {status}")
            counts[0] += 1
    finally:
        writer.close()


def requests_per_second(
    host: str, port: int, path: str, seconds: float = 5.0, connections: int = 8, headers: str = ""
) -> float:
    """Requests per second answered 200 over ``seconds`` with ``connections`` keep-alive clients."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n".encode()

    async def run() -> float:
        counts = [0]
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_connection(host, port, request, deadline, counts) for _ in range(connections))
        )
        return counts[0] / (time.perf_counter() - started)

    return asyncio.run(run())
