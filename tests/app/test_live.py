"""Live boards over websockets, against a real uvicorn server on a loopback port and the real
``websockets`` client (the same handshake and framing a browser gets)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.accounts import Role, create_user, end_session, start_session
from app.challenges import create_challenge
from app.db import Database
from app.models import TvLink
from app.programs import current_program
from app.routes.boards import token_hash
from app.server import SERVER_OPTIONS
from app.settings import ROOT, Settings
from app.web import create_app
from tests.app.test_challenges import _form as challenge_form
from tests.factories import make_world, sale
from tests.services import service_url

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
QUIET = 1.0  # how long "receives nothing" is waited for
TIMEOUT = 10.0  # any single expected step; a hang fails the test instead of blocking CI


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread; yield its base URL."""
    with served(app) as (host, _server):
        yield host


@contextmanager
def served(app: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """``serving``, also yielding the server (its open connections, for the protocol's tests)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **SERVER_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)


def app_for(db: Database, **settings: Any) -> Starlette:
    settings.setdefault("PODIUM_BOARD_REFRESH_SECONDS", 0)
    return create_app(Settings(**settings), db=db, clock=lambda: NOW)


@asynccontextmanager
async def watching(host: str, query: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    kwargs.setdefault("origin", f"http://{host}")
    async with asyncio.timeout(TIMEOUT):
        ws = await connect(f"ws://{host}/ws/boards?{query}", open_timeout=TIMEOUT, **kwargs)
    async with ws:
        yield ws


async def next_push(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str)
    return message


async def nothing_pushed(ws: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), QUIET)
    except TimeoutError:
        return True
    return False


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def post_sales(host: str, key: str, *events: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{host}", timeout=TIMEOUT) as c:
        return await c.post(
            "/api/v1/events",
            json={"events": list(events)},
            headers={"Authorization": f"Bearer {key}"},
        )


JKT_POINTS = "scope=region:JKT&metric=points"  # PT000 and its reps
SBY_POINTS = "scope=region:SBY&metric=points"  # PT001 and its reps


async def test_a_sale_is_pushed_to_its_board_and_not_to_another_regions(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    with serving(app_for(sqlite_db)) as host:
        async with watching(host, JKT_POINTS) as jkt, watching(host, SBY_POINTS) as sby:
            # On connect each gets the board as it is now: a reconnecting page resyncs.
            first = await next_push(jkt)
            assert 'id="board"' in first and 'hx-swap-oob="true"' in first
            assert "Nobody is on this board yet" in first
            await next_push(sby)

            answer = await post_sales(host, world.api_key, sale("e1", units=3, rep="R00000"))
            assert answer.status_code == 200

            pushed = await next_push(jkt)
            assert "Budi 0-0" in pushed and '<span class="value">30</span>' in pushed
            assert await nothing_pushed(sby)


async def test_a_sale_that_counts_moves_a_watched_challenge_and_one_that_does_not_is_silent(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    with sqlite_db.write() as s:
        admin = create_user(
            s, "admin@example.com", "Ayu", "correct horse battery", Role.PROGRAM_ADMIN
        )
        rep_id = s.execute(sa.text("SELECT id FROM rep WHERE code = 'R00000'")).scalar_one()
        partner_id = s.execute(sa.text("SELECT id FROM partner WHERE code = 'PT000'")).scalar_one()
        rep = create_user(
            s, "rep@example.com", "Budi", "correct horse battery", Role.REP, partner_id, rep_id
        )
        token = start_session(s, rep, NOW)
    with sqlite_db.session() as s:
        program = current_program(s)
    assert program is not None
    # A race in Jakarta from 19:00 (NOW) to 20:00: PT000's reps are in it, PT001's are not.
    race = create_challenge(sqlite_db, program, admin, challenge_form(), NOW, launch=True)
    cookie = {"Cookie": f"podium_session={token}"}
    with serving(app_for(sqlite_db)) as host:
        async with watching(host, f"challenge={race.id}", additional_headers=cookie) as ws:
            assert 'id="challenge-standings"' in await next_push(ws)
            outside = sale("sby", units=2, partner="PT001", rep="R00100", occurred_at=IN_RACE)
            assert (await post_sales(host, world.api_key, outside)).status_code == 200
            assert await nothing_pushed(ws)
            inside = sale("jkt", units=2, rep="R00001", occurred_at=IN_RACE)
            assert (await post_sales(host, world.api_key, inside)).status_code == 200
            pushed = await next_push(ws)
            assert 'id="challenge-standings"' in pushed and "Budi 0-1" in pushed


IN_RACE = "2026-11-22T19:00:30+07:00"


async def test_a_fragment_is_rendered_once_for_every_anonymous_viewer_of_a_board(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    app = app_for(sqlite_db)
    hub = app.state.podium.live
    with serving(app) as host:
        async with watching(host, JKT_POINTS) as one, watching(host, JKT_POINTS) as two:
            await next_push(one)
            await next_push(two)
            assert len(hub._feeds) == 1  # one feed, two subscribers
            await post_sales(host, world.api_key, sale("e1", units=2))
            assert await next_push(one) == await next_push(two)


async def test_a_socket_from_another_origin_or_without_one_is_refused(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with serving(app_for(sqlite_db)) as host:
        async with watching(host, JKT_POINTS, origin="http://evil.example") as ws:
            assert await close_code(ws) == 1008
        async with watching(host, JKT_POINTS, origin=None) as ws:
            assert await close_code(ws) == 1008
        async with watching(host, JKT_POINTS, origin=f"http://{host}") as ws:
            assert "board" in await next_push(ws)


async def test_a_board_the_page_would_refuse_gets_no_socket(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with serving(app_for(sqlite_db)) as host:
        for query in ("scope=region:NOPE", "metric=growth_pct&period=all", "audience=robots"):
            async with watching(host, query) as ws:
                assert await close_code(ws) == 1008, query


async def test_a_revoked_session_loses_its_socket_within_seconds(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with sqlite_db.write() as s:
        user = create_user(s, "rep@example.com", "Budi", "correct horse battery", Role.REP)
        token = start_session(s, user, NOW)
    with serving(app_for(sqlite_db)) as host:
        cookie = {"Cookie": f"podium_session={token}"}
        async with watching(host, JKT_POINTS, additional_headers=cookie) as ws:
            await next_push(ws)
            with sqlite_db.write() as s:
                end_session(s, token, NOW)
            assert await close_code(ws) == 1008


async def test_live_pushes_without_redis_keep_ingestion_and_pages_working(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    app = app_for(sqlite_db)
    # Only the live fan-out points at a dead port (the ranking stays in-process).
    app.state.podium.live.redis_url = f"redis://127.0.0.1:{free_port()}/0"
    with serving(app) as host:
        async with watching(host, JKT_POINTS) as ws:
            await next_push(ws)
            answer = await post_sales(host, world.api_key, sale("e1", units=1))
            assert answer.status_code == 200
            # This process's own changes are still pushed to its own clients.
            assert '<span class="value">10</span>' in await next_push(ws)
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=TIMEOUT) as c:
            page = await c.get("/boards?scope=region:JKT")
        assert page.status_code == 200 and "Budi 0-0" in page.text
        assert app.state.podium.live.redis_connected is False


# -- two processes, one Redis -------------------------------------------------------------------

SERVER = """
import sys
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
import uvicorn

from app.ranking import RedisRanking
from app.server import SERVER_OPTIONS
from app.settings import Settings
from app.web import create_app

port, prefix = int(sys.argv[1]), sys.argv[2]
app = create_app(Settings(), clock=lambda: datetime(2026, 11, 22, 12, tzinfo=UTC))
st = app.state.podium
# Keys and channel of this test only, so runs never see each other's boards.
st.boards.redis = RedisRanking(redis.Redis.from_url(st.settings.redis_url), prefix)
st.boards.backend = st.boards.redis
st.live.channel = prefix + "live"
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **SERVER_OPTIONS)
"""


@contextmanager
def process(db_path: Path, redis_url: str, prefix: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "REDIS_URL": redis_url,
        "PODIUM_BOARD_REFRESH_SECONDS": "0",
    }
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), prefix], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + TIMEOUT * 2
        while True:
            assert proc.poll() is None, "the server process died"
            assert time.monotonic() < deadline, "the server process did not start"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)


@pytest.mark.redis
async def test_a_sale_posted_to_one_process_reaches_a_client_of_another(
    sqlite_db: Database, tmp_path: Path
) -> None:
    redis_url = service_url("PODIUM_TEST_REDIS_URL", "Redis")
    world = make_world(sqlite_db)
    prefix = f"podium-test:{uuid.uuid4().hex}:"
    db_path = tmp_path / "podium.db"
    try:
        with process(db_path, redis_url, prefix) as a, process(db_path, redis_url, prefix) as b:
            async with watching(b, JKT_POINTS) as ws:
                await next_push(ws)
                # No wait for the processes to reach Redis: a change made before is queued
                # (A) or caught by the refresh that follows subscribing (B).
                answer = await post_sales(a, world.api_key, sale("e1", units=4))
                assert answer.status_code == 200
                assert '<span class="value">40</span>' in await next_push(ws)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        client.close()


# -- TV screens and the pages that open the sockets ---------------------------------------------


async def test_a_tv_link_gets_its_board_live_until_it_is_revoked(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    token = "tv-token-for-the-jakarta-office-screen-0123456"
    with sqlite_db.write() as s:
        admin = create_user(s, "hq@example.com", "HQ", "correct horse battery", Role.PROGRAM_ADMIN)
        assert admin.id is not None and world.program.id is not None
        link = TvLink(
            token_hash=token_hash(token),
            program_id=world.program.id,
            label="Jakarta office",
            audience="reps",
            scope="region:JKT",
            metric="points",
            created_by=admin.id,
            created_at=NOW,
        )
        s.add(link)
    with serving(app_for(sqlite_db)) as host:
        async with watching(host, "tv=not-a-token") as ws:
            assert await close_code(ws) == 1008
        async with watching(host, f"tv={token}") as ws:
            first = await next_push(ws)
            assert 'id="tv-board"' in first and "Jakarta office" in first
            await post_sales(host, world.api_key, sale("e1", units=5))
            assert '<span class="value">50</span>' in await next_push(ws)
            with sqlite_db.write() as s:
                s.execute(sa.update(TvLink).values(revoked_at=NOW))
            assert await close_code(ws) == 1008


async def test_board_and_tv_pages_open_their_socket_with_the_vendored_extension(
    sqlite_db: Database,
) -> None:
    make_world(sqlite_db)
    with serving(app_for(sqlite_db)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=TIMEOUT) as c:
            page = await c.get("/boards?scope=region:JKT&metric=units")
            refused = await c.get("/boards?scope=region:NOPE")
    assert '<script src="/static/vendor/htmx-ext-ws-2.0.4.min.js" defer></script>' in page.text
    assert (
        'ws-connect="/ws/boards?period=2026-11&amp;audience=reps&amp;scope=region%3AJKT'
        '&amp;metric=units"' in page.text
    )
    assert "ws-connect" not in refused.text  # nothing live to watch on an error
