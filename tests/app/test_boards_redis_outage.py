"""Degrade, never lose: with Redis gone, sales are still taken and boards still answer; when
Redis comes back (empty, as after a restart) the boards are rebuilt and caught up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from app.boards import Leaderboards
from app.db import Database
from app.ingest import ingest_events
from app.programs import current_program
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind
from tests.factories import make_world, sale
from tests.services import service_url

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
UNITS = BoardSpec(Audience.REPS, Scope(ScopeKind.EVERYONE), Metric.UNITS, "2026-11")


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test can stop and restart."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed on PATH"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    service_url("PODIUM_TEST_REDIS_URL", "Redis")  # the Redis tests run where Redis is installed
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.mark.redis
def test_boards_keep_answering_while_redis_is_away_and_catch_up_when_it_returns(
    sqlite_db: Database, private_redis: PrivateRedis
) -> None:
    make_world(sqlite_db)
    with sqlite_db.session() as s:
        program = current_program(s)
    assert program is not None
    client = redis.Redis(port=private_redis.port, socket_connect_timeout=0.5, socket_timeout=0.5)
    boards = Leaderboards(sqlite_db, client, view_max_age=0)

    def sell(event: dict) -> None:
        assert ingest_events(sqlite_db, program, "erp", [event], NOW).accepted == 1
        boards.settle(program)  # what the API does after its commit: never raises

    def order() -> list[tuple[str, int]]:
        return [(r.code, r.value) for r in boards.view(program, UNITS).top]

    sell(sale("a", units=2, rep="R00000", invoice="1"))
    assert order() == [("R00000", 2)]

    private_redis.stop()
    sell(sale("b", units=5, rep="R00001", invoice="2"))  # taken while Redis is away
    assert order() == [("R00001", 5), ("R00000", 2)]  # ranked from the store meanwhile

    private_redis.start()  # back, and empty, as after a restart
    sell(sale("c", units=4, rep="R00000", invoice="3"))
    assert order() == [("R00000", 6), ("R00001", 5)]
    assert boards.redis is not None and boards.redis.is_built(boards.board_id(program.id, UNITS))  # type: ignore[arg-type]
