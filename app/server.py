"""How Podium runs under uvicorn: the options ``podium serve``, the tests and the benchmarks
share, and the websocket protocol that holds less per open socket.

A live board keeps its socket open for hours, thousands of them per process, so what uvicorn's
``websockets-sansio`` protocol holds per socket is much of what a socket costs. It keeps the
handshake's response (its headers, about 1.4 KiB) for the socket's lifetime though it never
reads it again, and an ``asyncio.Queue`` and an ``asyncio.Event`` per socket, whose deques come
to about 3 KiB while almost always empty. ``LiveSocketProtocol`` is that protocol with the
response dropped once sent and the queue and event swapped for equivalents of a few dozen
bytes. Everything else (framing, the closing handshake, keepalive pings, flow control,
shutdown) is uvicorn's own. (The handshake's request stays: the ``websockets`` parser under
both uvicorn and the plain ``websockets`` server keeps it for the socket's lifetime.)
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import Any, Literal

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class _Waiters:
    """A list of waiting futures, made only once someone waits (``Inbox`` and ``Flag``)."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    def _new_waiter(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        return waiter

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if self._waiters is not None and waiter in self._waiters:
            self._waiters.remove(waiter)


class Inbox(_Waiters):
    """``asyncio.Queue``'s ``put_nowait``, ``get`` and ``empty``, unbounded, for the events
    the protocol hands the app's ``receive``: a list, and a list of waiters only once someone
    waits (a Queue holds three deques and an Event from the start, about 3 KiB)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_next()

    async def get(self) -> Any:
        while not self._items:
            getter = self._new_waiter()
            try:
                await getter
            except BaseException:
                getter.cancel()
                self._forget(getter)
                # Woken but cancelled before it could take the item: wake the next getter
                # instead, so the item is not left waiting (as ``asyncio.Queue`` does).
                if self._items and not getter.cancelled():
                    self._wake_next()
                raise
        return self._items.pop(0)

    def _wake_next(self) -> None:
        while self._waiters:
            getter = self._waiters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


class Flag(_Waiters):
    """``asyncio.Event``'s ``is_set``, ``set``, ``clear`` and ``wait``, with its waiters in a
    list made only while someone waits (an Event holds a deque, about 760 bytes)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> Literal[True]:
        if self._set:
            return True
        waiter = self._new_waiter()
        try:
            await waiter
            return True
        finally:
            self._forget(waiter)


class LiveSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, holding less while a socket stays open (see
    the module's docstring). ``tests/app/test_live_server.py`` holds it to that, and to
    behaving as uvicorn's does, on whichever uvicorn is installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only put_nowait, get and empty, and wait, set and clear, are used on them.
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and "response" in self.__dict__:
            # The handshake's response is sent (or never will be): it is not read again.
            del self.response


# ``uvicorn.run``/``uvicorn.Config`` options for the app, the same everywhere it is served.
SERVER_OPTIONS: dict[str, Any] = {
    "ws": LiveSocketProtocol,
    # No permessage-deflate: live pushes are one fragment sent to thousands of sockets, and
    # deflate would compress it again for each one and keep a compressor (tens of KiB) per
    # socket.
    "ws_per_message_deflate": False,
}


def _load_malloc_trim() -> Callable[[int], int] | None:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def give_back_memory() -> bool:
    """Return the C allocator's free pages to the operating system; False where it cannot.

    glibc keeps what a burst of work freed (in the middle of its heap, and in the arena of each
    worker thread that did the work) for reuse, for as long as the process lives. After a
    reconnect storm (thousands of sockets opened at once, each with its login, its board and
    its first rendering in worker threads) that is megabytes no socket holds. ``malloc_trim``
    gives those pages back; it takes a few milliseconds, so it runs in a worker thread, once a
    burst is over (see ``LiveHub.opening``)."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
