"""The board page through uvicorn on one worker, beside a pre-rendered page of the same size
served by the same server: what ranking, reading and rendering a board costs per request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from app.db import Database
from app.demo import seed_demo
from tests.perf.figures import Figure
from tests.perf.load import requests_per_second

BOARDS = [
    ("everyone, points", "/boards?audience=reps&scope=everyone&metric=points"),
    ("region, units", "/boards?audience=reps&scope=region:JTM&metric=units"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def run(quick: bool) -> Iterator[Figure]:
    seconds = 3.0 if quick else 8.0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'podium.db'}"
        db = Database(url)
        db.migrate()
        seed_demo(db, datetime.now(UTC))
        db.dispose()
        anchor = Path(tmp) / "anchor.html"
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.perf.board_server", url, str(port), str(anchor)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        try:
            _wait(port)
            for n, (label, path) in enumerate(BOARDS):
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read()
                anchor.write_bytes(body)
                server_path = f"/_bench/prerendered?board={n}"  # read once per board
                requests_per_second("127.0.0.1", port, path, 1.0)  # warm up
                page = requests_per_second("127.0.0.1", port, path, seconds)
                static = requests_per_second("127.0.0.1", port, server_path, seconds)
                yield Figure(
                    f"board page req/s, {label} ({len(body) // 1024} KiB)",
                    page,
                    "req/s",
                    static,
                    ">=0.5",
                    "pre-rendered page of the same size, same server",
                )
        finally:
            server.terminate()
            server.wait(timeout=10)
