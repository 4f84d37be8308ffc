from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import redis

from app.db import Database
from app.settings import Settings
from app.web import create_app
from tests.services import service_url

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def client_for(db: Database, now: datetime = NOW, **settings: object) -> httpx.AsyncClient:
    settings.setdefault("PODIUM_BOARD_REFRESH_SECONDS", 0)  # tests read their own writes at once
    app = create_app(Settings(**settings), db=db, clock=lambda: now)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sqlite_db) as c:
        yield c


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[redis.Redis | None]:
    """None for the in-process index, or a Redis client (keys cleaned up afterwards)."""
    if request.param == "in-process":
        yield None
        return
    client = redis.Redis.from_url(service_url("PODIUM_TEST_REDIS_URL", "Redis"))
    yield client
    client.close()
