"""Live boards through a Redis outage, with two real app processes sharing one SQLite file
and a private redis-server the test stops and restarts: sales are taken while Redis is away,
nothing is lost, and pushes across processes resume once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection

from app.db import Database
from app.models import LedgerEntry
from tests.app.test_boards_redis_outage import PrivateRedis, private_redis  # noqa: F401
from tests.app.test_live import JKT_POINTS, TIMEOUT, next_push, post_sales, process, watching
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ledger_count(db: Database) -> int:
    with db.session() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar_one())


async def pushed_until(ws: ClientConnection, needle: str, timeout: float) -> str:
    """Read pushes until one contains ``needle`` (refreshes may come first)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await next_push(ws, timeout)
            if needle in message:
                return message


@pytest.mark.redis
async def test_sales_survive_a_redis_outage_and_pushes_across_processes_resume(
    sqlite_db: Database,
    tmp_path: Path,
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    world = make_world(sqlite_db)
    redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    db_path = tmp_path / "podium.db"  # the file behind sqlite_db
    with process(db_path, redis_url, "outage:") as a, process(db_path, redis_url, "outage:") as b:
        async with watching(a, JKT_POINTS) as on_a, watching(b, JKT_POINTS) as on_b:
            await next_push(on_a)
            await next_push(on_b)

            private_redis.stop()
            answer = await post_sales(a, world.api_key, sale("e1", units=4))
            assert answer.status_code // 100 == 2
            assert ledger_count(sqlite_db) == 1  # taken, stored, not lost
            # A's own client still sees it live (the board ranked from the store meanwhile).
            await pushed_until(on_a, '<span class="value">40</span>', TIMEOUT)
            async with httpx.AsyncClient(base_url=f"http://{a}", timeout=TIMEOUT) as c:
                page = await c.get("/boards?scope=region:JKT")
            assert page.status_code == 200 and '<span class="value">40</span>' in page.text

            private_redis.start()  # back, and empty, as after a restart
            answer = await post_sales(a, world.api_key, sale("e2", units=2))
            assert answer.status_code // 100 == 2
            assert ledger_count(sqlite_db) == 2
            # B is in step again once it has reconnected (its reconnect refreshes its boards).
            await pushed_until(on_b, '<span class="value">60</span>', TIMEOUT * 3)
            # From here on nothing but A's message over Redis can tell B of A's next sale:
            # this push proves the fan-out across processes itself has resumed.
            answer = await post_sales(a, world.api_key, sale("e3", units=1))
            assert answer.status_code // 100 == 2
            await pushed_until(on_b, '<span class="value">70</span>', TIMEOUT * 3)
            assert ledger_count(sqlite_db) == 3
