"""Personal toasts and the live dashboard, against a real uvicorn server and the real
``websockets`` client; a rep is logged in by the session cookie sent on the handshake."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection

from app.accounts import Role, create_user, start_session
from app.db import Database
from app.models import Rep
from tests.app.test_live import (
    NOW,
    TIMEOUT,
    app_for,
    next_push,
    nothing_pushed,
    post_sales,
    process,
    serving,
    watching,
)
from tests.factories import make_world, sale
from tests.services import service_url

pytestmark = pytest.mark.anyio

EVERYONE = "period=2026-11&audience=reps&scope=everyone&metric=points"
HOME = "view=home&" + EVERYONE


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def log_in_rep(db: Database, code: str) -> dict[str, str]:
    """A session for the rep with ``code``: the cookie header a browser would send."""
    with db.write() as s:
        rep = s.exec(Rep.__table__.select().where(Rep.code == code)).one()  # type: ignore[attr-defined]
        user = create_user(s, f"{code}@example.com", rep.name, "correct horse battery", Role.REP)
        user.rep_id = rep.id
        s.add(user)
        s.flush()
        token = start_session(s, user, NOW)
    return {"Cookie": f"podium_session={token}"}


async def toast(ws: ClientConnection) -> str:
    """The next toast pushed, skipping board refreshes."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = await next_push(ws)
            if 'id="toasts"' in message:
                return message


async def test_a_rep_is_told_who_passed_them_and_nothing_about_changes_far_below(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    cookie = log_in_rep(sqlite_db, "R00000")
    app = app_for(sqlite_db, PODIUM_ALERT_MIN_SECONDS=0)
    with serving(app) as host:
        await post_sales(host, world.api_key, sale("a", units=5, rep="R00000"))
        await post_sales(host, world.api_key, sale("b", units=1, rep="R00001"))
        async with watching(host, EVERYONE, additional_headers=cookie) as ws:
            await next_push(ws)  # the board as it is now
            # Below Budi 0-0: R00100 moves past R00001 only, which is not news for Budi.
            await post_sales(host, world.api_key, sale("c", units=2, partner="PT001", rep="R00100"))
            assert 'id="board"' in await next_push(ws)
            assert await nothing_pushed(ws)
            # <Siti> & co: a name is escaped wherever it is shown.
            with sqlite_db.write() as s:
                rep = s.exec(Rep.__table__.select().where(Rep.code == "R00100")).one()  # type: ignore[attr-defined]
                s.get(Rep, rep.id).name = "<Siti>"  # type: ignore[union-attr]
            await post_sales(host, world.api_key, sale("d", units=9, partner="PT001", rep="R00100"))
            pushed = await toast(ws)
            assert "&lt;Siti&gt; from Toko Maju 1 passed you: you are now #2" in pushed
            assert 'hx-swap-oob="beforeend"' in pushed and "<Siti>" not in pushed


async def test_at_most_one_toast_a_minute_by_default(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    cookie = log_in_rep(sqlite_db, "R00000")
    with serving(app_for(sqlite_db)) as host:
        await post_sales(host, world.api_key, sale("a", units=5, rep="R00000"))
        async with watching(host, EVERYONE, additional_headers=cookie) as ws:
            await next_push(ws)
            await post_sales(host, world.api_key, sale("b", units=6, rep="R00001"))
            assert "passed you: you are now #2" in await toast(ws)
            await post_sales(host, world.api_key, sale("c", units=20, rep="R00001"))
            await post_sales(host, world.api_key, sale("d", units=9, rep="R00000"))  # back up
            await post_sales(host, world.api_key, sale("e", units=30, rep="R00001"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(toast(ws), 1.0)


async def test_the_dashboard_of_a_rep_is_live_with_its_card_and_top_reps(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    cookie = log_in_rep(sqlite_db, "R00000")
    with serving(app_for(sqlite_db, PODIUM_ALERT_MIN_SECONDS=0)) as host:
        async with watching(host, HOME, additional_headers=cookie) as ws:
            first = await next_push(ws)
            assert 'id="participant"' in first and 'id="top-reps"' in first
            await post_sales(host, world.api_key, sale("a", units=3, rep="R00000"))
            # The card and list, and the toast, come in whichever order they were ready.
            pushed = await next_push(ws) + await next_push(ws)
            assert 'hx-swap-oob="outerHTML:#participant.own"' in pushed
            assert 'id="top-reps" class="card" hx-swap-oob="true"' in pushed
            assert "Budi 0-0" in pushed and "You moved up to #1" in pushed
        # Only a logged-in rep's dashboard is live.
        async with watching(host, HOME) as anonymous:
            with pytest.raises(Exception):  # noqa: B017 - closed with 1008
                await next_push(anonymous)


async def test_reaching_a_tier_is_a_toast_for_the_rep_who_reached_it(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)  # Bronze at 100 units
    cookie = log_in_rep(sqlite_db, "R00000")
    with serving(app_for(sqlite_db, PODIUM_ALERT_MIN_SECONDS=0)) as host:
        await post_sales(host, world.api_key, sale("a", units=99, rep="R00000"))
        async with watching(host, EVERYONE, additional_headers=cookie) as ws:
            await next_push(ws)
            await post_sales(host, world.api_key, sale("b", units=1, rep="R00000"))
            assert "You reached Bronze" in await toast(ws)


async def test_the_home_page_opens_the_socket_for_a_rep_only(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    cookie = log_in_rep(sqlite_db, "R00000")
    with serving(app_for(sqlite_db)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=TIMEOUT) as c:
            mine = await c.get("/", headers=cookie)
            anonymous = await c.get("/")
    assert (
        'ws-connect="/ws/boards?view=home&amp;period=2026-11&amp;audience=reps'
        '&amp;scope=everyone&amp;metric=points"' in mine.text
    )
    assert 'id="participant" class="card participant own"' in mine.text
    assert 'id="top-reps"' in mine.text and '<div id="toasts"' in mine.text
    assert "ws-connect" not in anonymous.text


@pytest.mark.redis
async def test_a_toast_decided_by_one_process_reaches_the_rep_on_another(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_url = service_url("PODIUM_TEST_REDIS_URL", "Redis")
    world = make_world(sqlite_db)
    cookie = log_in_rep(sqlite_db, "R00000")
    monkeypatch.setenv("PODIUM_ALERT_MIN_SECONDS", "0")  # read by the server processes
    prefix = f"podium-test:{uuid.uuid4().hex}:"
    db_path = tmp_path / "podium.db"  # the file behind sqlite_db
    try:
        with process(db_path, redis_url, prefix) as a, process(db_path, redis_url, prefix) as b:
            await post_sales(a, world.api_key, sale("a", units=5, rep="R00000"))
            async with watching(b, EVERYONE, additional_headers=cookie) as ws:
                await next_push(ws)
                # Decided once, by A, which made the change; B only delivers it.
                answer = await post_sales(a, world.api_key, sale("b", units=6, rep="R00001"))
                assert answer.status_code == 200
                assert "Budi 0-1 from Toko Maju 0 passed you: you are now #2" in await toast(ws)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        client.close()
