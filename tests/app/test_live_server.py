"""What a live socket holds while it stays open: Podium's websocket protocol under uvicorn
(``app.server``), the subscriber's writer (``app.live.Subscriber``) and the live path's route
past the middleware (``app.web.Podium``). Thousands of sockets stay open per process, so what
each keeps is the feature's memory; the behaviour must stay uvicorn's and the endpoint's."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import time
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app import live
from app.db import Database
from app.live import QUEUE_SIZE, TRY_AGAIN_LATER, LiveHub, Subscriber
from app.server import Flag, Inbox, LiveSocketProtocol, give_back_memory
from tests.app.test_live import JKT_POINTS, TIMEOUT, app_for, next_push, served, watching
from tests.factories import make_world

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the protocol's queue and flag ---------------------------------------------------------------


async def test_the_inbox_hands_out_items_in_order_and_waits_for_the_next() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(waiting, TIMEOUT) == 3
    assert inbox.empty()


async def test_an_item_a_cancelled_getter_was_woken_for_goes_to_the_next_getter() -> None:
    inbox = Inbox()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("x")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, TIMEOUT) == "x"
    assert first.cancelled()


async def test_the_flag_lets_waiters_through_only_while_set() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), TIMEOUT) == [True, True]
    assert await flag.wait() is True  # set: no waiting
    flag.clear()
    later = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0.05)
    assert not later.done()
    later.cancel()


# -- the protocol under uvicorn ------------------------------------------------------------------


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A websocket app: echoes text, closes with 4001 on "bye", records the disconnect."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            DISCONNECTS.append(message["code"])
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4001})
            continue
        await send({"type": "websocket.send", "text": "echo " + message["text"]})


DISCONNECTS: list[int] = []


def open_protocol(server: uvicorn.Server) -> LiveSocketProtocol:
    [protocol] = [c for c in server.server_state.connections if isinstance(c, LiveSocketProtocol)]
    return protocol


async def test_an_open_socket_keeps_neither_its_handshake_response_nor_a_queue_or_event() -> None:
    with served(echo) as (host, server):
        async with connect(f"ws://{host}/", open_timeout=TIMEOUT) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "echo hi"
            protocol = open_protocol(server)
            assert "response" not in vars(protocol)
            assert isinstance(protocol.queue, Inbox)
            assert isinstance(protocol.writable, Flag)


async def test_the_protocol_still_pings_and_closes_both_ways() -> None:
    DISCONNECTS.clear()
    with served(echo) as (host, _):
        async with connect(f"ws://{host}/", open_timeout=TIMEOUT) as ws:
            await asyncio.wait_for(await ws.ping(), TIMEOUT)  # answered with a pong
            for i in range(50):  # messages queued faster than the app reads them
                await ws.send(str(i))
            assert [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(50)] == [
                f"echo {i}" for i in range(50)
            ]
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        async with connect(f"ws://{host}/", open_timeout=TIMEOUT) as ws:
            await ws.close(1000)
        deadline = time.monotonic() + TIMEOUT
        while 1000 not in DISCONNECTS:
            assert time.monotonic() < deadline, DISCONNECTS
            await asyncio.sleep(0.02)


# -- the live path -------------------------------------------------------------------------------


async def test_a_live_socket_keeps_no_request_headers_once_open(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with served(app_for(sqlite_db)) as (host, server):
        async with watching(host, JKT_POINTS) as ws:
            assert "board" in await next_push(ws)
            assert open_protocol(server).scope["headers"] == []


async def test_a_websocket_on_another_path_is_refused(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with served(app_for(sqlite_db)) as (host, _):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://{host}/ws/other", origin=f"http://{host}", open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 403


# -- the subscriber's writer ---------------------------------------------------------------------


class Socket:
    """A send that records what it is sent, and can be held (a client that stopped reading)
    or made to fail (a client that has gone)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.open = asyncio.Event()
        self.open.set()
        self.gone = False

    async def send(self, message: dict[str, Any]) -> None:
        await self.open.wait()
        if self.gone:
            raise OSError("gone")
        self.sent.append(message.get("text", message.get("code")))


async def settled(sub: Subscriber) -> None:
    for _ in range(100):
        await asyncio.sleep(0)
        if sub._writing is None:
            return
    raise AssertionError("the writer did not finish")


async def test_fragments_offered_before_the_socket_opens_are_sent_once_it_does() -> None:
    sub, socket = Subscriber("feed"), Socket()
    sub.offer("a")
    sub.offer("b")
    sub.attach(socket.send)
    sub.offer("c")
    await settled(sub)
    assert socket.sent == ["a", "b", "c"]
    sub.end(None)  # the client left: nothing more is sent, not even a close
    await settled(sub)
    assert socket.sent == ["a", "b", "c"]


async def test_an_ended_subscriber_closes_its_socket_with_the_code() -> None:
    sub, socket = Subscriber("feed"), Socket()
    sub.attach(socket.send)
    sub.end(1008)
    await settled(sub)
    assert socket.sent == [1008]
    sub.offer("late")
    await settled(sub)
    assert socket.sent == [1008]


async def test_a_client_too_far_behind_is_dropped_with_try_again_later() -> None:
    sub, socket = Subscriber("feed"), Socket()
    sub.attach(socket.send)
    socket.open.clear()  # stopped reading: the first send waits
    sub.offer("0")
    await asyncio.sleep(0)  # the writer takes it and waits in its send
    for i in range(1, QUEUE_SIZE + 2):
        sub.offer(str(i))
    assert sub.ended and sub.close_code == TRY_AGAIN_LATER and sub.pending == []
    socket.open.set()
    await settled(sub)
    assert socket.sent == ["0", TRY_AGAIN_LATER]  # the one in flight, then the close


async def test_a_send_that_fails_ends_the_subscriber_without_a_close() -> None:
    sub, socket = Subscriber("feed"), Socket()
    sub.attach(socket.send)
    socket.gone = True
    sub.offer("a")
    await settled(sub)
    assert sub.ended and sub.close_code is None and socket.sent == []


# -- giving a burst's memory back ----------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_giving_memory_back_returns_what_the_allocator_kept_to_the_system() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 MiB in 4 KiB blocks (below the size glibc maps separately), each written so that it
    # is resident; the last one stays, so free() alone cannot shrink the heap from its top.
    blocks = [libc.malloc(4096) for _ in range(16_384)]
    for block in blocks:
        ctypes.memset(block, 1, 4096)
    for block in blocks[:-1]:
        libc.free(block)
    kept = _rss_kib()
    assert give_back_memory()
    assert kept - _rss_kib() > 48 * 1024  # most of the 64 MiB is the system's again
    libc.free(blocks[-1])


async def test_a_burst_of_openings_gives_its_memory_back_once_it_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "TRIM_AFTER", 0.2)
    hub = LiveHub()
    await asyncio.gather(*(hub.opening(time.sleep, 0.05) for _ in range(10)))
    assert hub.trims == 0  # not while the burst runs, nor at once after it
    await asyncio.sleep(0.1)
    await hub.opening(time.sleep, 0.01)  # another opening puts it off again
    await asyncio.sleep(0.15)
    assert hub.trims == 0
    await asyncio.sleep(0.2)
    assert hub.trims == 1  # once, for the whole burst
    await asyncio.sleep(0.3)
    assert hub.trims == 1
    await hub.stop()
