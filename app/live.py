"""Live boards over websockets: a board page or TV screen subscribes and the server pushes the
board's block whenever the board moves.

``Leaderboards`` calls ``LiveHub.boards_changed`` with the ids of the boards an advance moved.
The hub renders each watched *feed* once per change (not once per connection) and queues the
HTML on every subscriber of that feed; htmx's ws extension swaps it in by its id (an
out-of-band swap). A feed is what one rendering serves: a TV link, or a board as seen by one
viewer (``you`` and the language change the rows), so every anonymous viewer and every TV of a
board share one rendering.

With ``REDIS_URL`` the hub also publishes the changed board ids on a pub/sub channel: every
app process re-renders for its own subscribers. Redis is never in the request path: ids are
handed to a background task, which reconnects with backoff and jitter while Redis is down;
meanwhile pushes from other processes pause and pushes of this process's own writes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
import redis.asyncio as aioredis
import sqlalchemy as sa
from anyio import CapacityLimiter
from jinja2_fragments import render_block
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlmodel import col, select
from starlette import types as asgi
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from app import formatting
from app.accounts import Login, resume_session
from app.boards import BoardMoves, Leaderboards
from app.challenges import board_of
from app.context import SESSION_COOKIE, AppState
from app.models import Partner, Program, Rep
from app.programs import current_program, rules_of
from app.routes import boards as pages
from app.routes import challenges as challenge_pages
from app.routes.boards import _live_link
from app.routes.pages import home_board, home_context, language_of
from app.server import give_back_memory
from game import alerts
from game.alerts import Place
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind
from game.ranking import Standing

log = logging.getLogger(__name__)

CHANNEL = "podium:live:boards"
QUEUE_SIZE = 32  # pushes a slow client may lag behind before it is dropped (it resyncs)
RECHECK_SECONDS = 4.0  # how long a revoked session or TV link may keep its socket
# Freezing the garbage collector's view of the sockets (see ``LiveHub._count_connections``):
# once the open sockets grew by this many and this share since the last freeze; FREEZE_SETTLE
# seconds later (most of a burst of reconnects is in by then), at most once per FREEZE_EVERY.
FREEZE_MIN_GROWTH, FREEZE_GROWTH = 500, 1.25
FREEZE_EVERY, FREEZE_SETTLE = 10.0, 1.0
OPENING_THREADS = 4  # worker threads sockets being opened may use at once (see ``opening``)
TRIM_AFTER = 1.0  # seconds without an opening before a burst's freed memory is given back
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # Redis reconnect delays (seconds, before jitter)

# Close codes. htmx's ws extension reconnects (with backoff) after 1012 and 1013 only, so a
# refused or revoked socket stays closed while a dropped one comes back and resyncs.
POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013

T = TypeVar("T")
Render = Callable[[], str | None]  # blocking; None when the feed is gone (a revoked TV link)
Allowed = Callable[[], bool]  # blocking; False once the session or TV link is revoked


@dataclass(frozen=True)
class Recheck:
    """How to ask again whether a socket may still watch. Sockets with the same ``key`` (one
    session, one TV link) are asked about once per round."""

    key: Hashable
    allowed: Allowed


@dataclass(eq=False, slots=True)
class Subscriber:
    """One open socket: the fragments waiting to be sent (a bounded backlog) and how it must
    end, once decided. Thousands of sockets are held, so each holds as few objects as it can:
    plain fields, and a task of its own only while it has something to send (``_write``).
    The socket's own task only reads, to notice the client leaving (``LiveBoards``)."""

    feed: Hashable
    rep_id: int | None = None  # the logged-in rep behind it: personal toasts go to it too
    recheck: Recheck | None = None  # None: nothing to revoke (an anonymous viewer)
    pending: list[str] = field(default_factory=list)  # a deque's first block alone is 600 B
    primed: bool = False  # has been sent its first board; from then on it gets every change
    ended: bool = False
    close_code: int | None = TRY_AGAIN_LATER  # once ended; None: the client left
    _send: asgi.Send | None = None  # the socket's, once it is open
    _writing: asyncio.Task[None] | None = None

    def attach(self, send: asgi.Send) -> None:
        """Start sending on the socket: what was queued before it opened, then every offer."""
        self._send = send
        self._kick()

    def offer(self, html: str) -> None:
        if self.ended:
            return
        if len(self.pending) >= QUEUE_SIZE:
            # Too far behind: dropping it costs one reconnect and one render; waiting for it
            # would hold fragments in memory for a client that may never read them.
            self.end(TRY_AGAIN_LATER)
            return
        self.pending.append(html)
        self._kick()

    def end(self, code: int | None) -> None:
        """Stop sending; close the socket with ``code`` (None: the client has left)."""
        if not self.ended:
            self.ended = True
            self.close_code = code
            self.pending.clear()
            self._kick()

    def _kick(self) -> None:
        if self._send is None or self._writing is not None:
            return  # not open yet, or the running writer sends it too
        if self.pending or (self.ended and self.close_code is not None):
            self._writing = asyncio.get_running_loop().create_task(self._write(self._send))

    async def _write(self, send: asgi.Send) -> None:
        # A send to a client that stopped reading waits until it reads again or its
        # connection is lost; meanwhile an ended subscriber takes no more fragments.
        try:
            while self.pending:
                await send({"type": "websocket.send", "text": self.pending.pop(0)})
            if self.ended and self.close_code is not None:
                await send({"type": "websocket.close", "code": self.close_code})
        except Exception:  # sending failed: the client is gone, which its reader notices
            self.end(None)
        finally:
            self._writing = None


@dataclass(eq=False)
class _Feed:
    board: str
    render: Render
    subscribers: set[Subscriber] = field(default_factory=set)
    last: str | None = None  # the newest fragment sent: an unchanged rendering is not re-sent
    started: int = 0  # renderings begun (a ticket per rendering)
    applied: int = 0  # the ticket of the rendering ``last`` came from
    # Sockets that joined since the last rendering for joiners began wait on one rendering
    # together (a burst of reconnects costs a few renders, not one per socket).
    joining: asyncio.Future[str | None] | None = None
    priming: asyncio.Task[None] | None = None


class LiveHub:
    """Who watches which board, and pushing each board's new rendering to them."""

    def __init__(
        self,
        redis_url: str = "",
        channel: str = CHANNEL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        alert_min_seconds: float = alerts.DEFAULT_MIN_SECONDS,
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.clock = clock  # which period is "current" for alerts
        self.alert_min_seconds = alert_min_seconds
        self._reps: dict[int, set[Subscriber]] = {}  # rep id -> that rep's open sockets
        self._told: dict[int, float] = {}  # rep id -> when last toasted (monotonic seconds)
        self._alerting: set[asyncio.Task[None]] = set()  # held so they are not collected
        self.redis_connected = False
        self.closing = asyncio.Event()
        self._feeds: dict[Hashable, _Feed] = {}
        self._dirty: set[str] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Messages for the other processes: {"b": board ids} or {"t": [[rep id, toast]]}.
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        self._redis_task: asyncio.Task[None] | None = None
        self._origin = secrets.token_hex(8)  # this process, so it skips its own messages
        self._boards: Leaderboards | None = None
        self._lost = False  # changes were dropped from a full outbox
        self._unsent: dict[str, Any] | None = None
        self._rechecking: asyncio.Task[None] | None = None
        self._connections = 0  # open subscribed sockets
        self._frozen_at = 0  # how many there were at the last gc.freeze()
        self._frozen_when = float("-inf")  # and when (monotonic seconds)
        self._freezing: asyncio.TimerHandle | None = None
        self._opening: CapacityLimiter | None = None
        self._trimming: asyncio.TimerHandle | None = None
        self.trims = 0  # bursts of openings whose memory was given back
        self._tasks: set[asyncio.Task[Any]] = set()  # held until done (the loop keeps weak refs)

    # lifecycle ---------------------------------------------------------------------------------

    def attach(self, boards: Leaderboards) -> None:
        self._boards = boards
        boards.on_change.append(self.boards_changed)
        boards.on_moves.append(self.boards_moved)
        # Movers are reported on the points board (overtakes) and on the board of the tier
        # ladder's metric (tiers reached); units, points and revenue are metrics of both.
        boards.moves_metrics = lambda program: {
            Metric.POINTS,
            Metric(rules_of(program).ladder.metric.value),
        }

    async def start(self) -> None:
        """Called from the app's lifespan, on its event loop."""
        self._loop = asyncio.get_running_loop()
        await run_in_threadpool(self._start_watermarks)
        if self.redis_url:
            self._redis_task = asyncio.create_task(self._redis_forever())
        self._start_rechecking()

    def _start_watermarks(self) -> None:
        # Leaderboards starts a program's watermark at its first use, *after* the write that
        # caused it: the first sale a fresh process takes would move no board and announce
        # nothing to the other processes. Starting them now makes every later write count.
        if self._boards is None:
            return
        try:
            with self._boards.db.session() as s:
                programs = list(s.exec(select(Program)).all())
            for program in programs:
                self._boards.catch_up(program)
        except Exception:  # e.g. a database not migrated yet: pages will say so, not startup
            log.exception("live boards: could not read the programs at startup")

    async def stop(self) -> None:
        self.closing.set()
        for feed in self._feeds.values():
            for sub in feed.subscribers:
                sub.end(SERVICE_RESTART)
        for timer in (self._freezing, self._trimming):
            if timer is not None:
                timer.cancel()
        for task in (self._redis_task, self._flushing, self._rechecking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # subscribing -------------------------------------------------------------------------------

    async def subscribe(
        self,
        key: Hashable,
        board: str,
        render: Render,
        rep_id: int | None = None,
        recheck: Recheck | None = None,
    ) -> Subscriber:
        """Join ``key``'s feed; a rendering begun after joining is queued at once, so a client
        that reconnects after missing pushes is in sync again. Call ``unsubscribe`` after."""
        self._loop = self._loop or asyncio.get_running_loop()
        self._start_rechecking()
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = _Feed(board, render)
        sub = Subscriber(key, rep_id=rep_id, recheck=recheck)
        feed.subscribers.add(sub)
        self._count_connections(+1)
        if rep_id is not None:
            # Not primed yet: broadcasts skip it until it has a board.
            self._reps.setdefault(rep_id, set()).add(sub)
        if self.closing.is_set():
            sub.end(SERVICE_RESTART)
            return sub
        try:
            html = await self._render_for_joiners(feed)
        except BaseException:
            self.unsubscribe(sub)
            raise
        if html is None:
            sub.end(POLICY_VIOLATION)
        else:
            assert feed.last is not None
            sub.offer(feed.last)  # ours, or a newer one that finished first
            sub.primed = True
        return sub

    async def _render_for_joiners(self, feed: _Feed) -> str | None:
        if feed.joining is None:
            feed.joining = asyncio.get_running_loop().create_future()
            if feed.priming is None or feed.priming.done():
                feed.priming = asyncio.create_task(self._prime(feed))
        # Shielded: a client that leaves mid-handshake must not cancel the others' rendering.
        return await asyncio.shield(feed.joining)

    async def _prime(self, feed: _Feed) -> None:
        # One rendering at a time for joiners: those who join while one runs wait for the
        # next, which begins after they joined (one begun before might miss a change).
        while feed.joining is not None:
            joiners, feed.joining = feed.joining, None
            try:
                joiners.set_result(await self._render(feed, opening=True))
            except Exception as exc:
                joiners.set_exception(exc)
                joiners.exception()  # handed to each joiner; not "never retrieved" if none is left

    def unsubscribe(self, sub: Subscriber) -> None:
        self._count_connections(-1)
        if sub.rep_id is not None:
            mine = self._reps.get(sub.rep_id, set())
            mine.discard(sub)
            if not mine:
                self._reps.pop(sub.rep_id, None)
        feed = self._feeds.get(sub.feed)
        if feed is None:
            return
        feed.subscribers.discard(sub)
        if not feed.subscribers:
            del self._feeds[sub.feed]

    def watched(self) -> set[str]:
        return {feed.board for feed in self._feeds.values()}

    async def opening(self, work: Callable[..., T], *args: Any) -> T:
        """Run the blocking work of opening a socket (its login, its board, its first
        rendering) in a worker thread, at most OPENING_THREADS at a time: a reconnect storm
        (every client of a restarted process at once) must not take every worker thread and
        database connection from page requests, nor grow the pool to its limit for good."""
        if self._opening is None:
            self._opening = CapacityLimiter(OPENING_THREADS)
        self._busy()
        try:
            return await anyio.to_thread.run_sync(work, *args, limiter=self._opening)
        finally:
            self._quiet()

    # giving memory back ------------------------------------------------------------------------

    def _busy(self) -> None:
        if self._trimming is not None:
            self._trimming.cancel()
            self._trimming = None

    def _quiet(self) -> None:
        """Openings or a round of pushes ended: once none has run for TRIM_AFTER seconds, what
        the burst freed goes back to the operating system (``server.give_back_memory``) rather
        than staying with the allocator for as long as the process runs. A burst of openings
        (a reconnect storm) or of pushes to thousands of sockets frees megabytes no socket
        holds; under steady traffic the timer keeps being pushed back and never fires."""
        busy = self._opening is not None and self._opening.borrowed_tokens > 0
        if busy or self._dirty or self.closing.is_set():
            return
        self._busy()
        self._trimming = asyncio.get_running_loop().call_later(TRIM_AFTER, self._trim)

    def _trim(self) -> None:
        self._trimming = None
        self.trims += 1
        task = asyncio.get_running_loop().create_task(run_in_threadpool(give_back_memory))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # revocation --------------------------------------------------------------------------------

    def _start_rechecking(self) -> None:
        if self._rechecking is None or self._rechecking.done():
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck_forever())

    async def _recheck_forever(self) -> None:
        """A revoked session or TV link must not keep watching: every few seconds each session
        and TV link with a socket here is looked up again (one lookup however many sockets
        share it; a revocation is a database write, seen by every process). One task for the
        hub rather than a timer per socket."""
        while not self.closing.is_set():
            await asyncio.sleep(RECHECK_SECONDS)
            sockets: dict[Hashable, list[Subscriber]] = {}
            checks: dict[Hashable, Allowed] = {}
            for feed in self._feeds.values():
                for sub in feed.subscribers:
                    if sub.recheck is not None and not sub.ended:
                        sockets.setdefault(sub.recheck.key, []).append(sub)
                        checks.setdefault(sub.recheck.key, sub.recheck.allowed)
            if not checks:
                continue
            try:
                refused = await run_in_threadpool(_refused, checks)
            except Exception:  # e.g. the database is briefly away: ask again next round
                log.exception("live boards: re-checking sessions failed")
                continue
            for key in refused:
                for sub in sockets[key]:
                    sub.end(POLICY_VIOLATION)

    # garbage collection ------------------------------------------------------------------------

    def _count_connections(self, change: int) -> None:
        """Every socket holds a few hundred objects the garbage collector tracks (uvicorn's,
        asyncio's, ours); a full collection scans them all, about 1 s at 5,000 sockets, and
        stalls every push meanwhile. When the sockets have grown a lot, ``gc.freeze()`` moves
        everything alive into the permanent generation, which collections skip. Objects of
        frozen sockets are still freed by reference counting when they close; only reference
        cycles among them wait until ``gc.unfreeze()``, done once half of them have gone."""
        self._connections += change
        if change < 0:
            if self._frozen_at and self._connections < self._frozen_at // 2:
                gc.unfreeze()  # the next full collections reclaim what the gone sockets left
                self._frozen_at = self._connections
            return
        grown = self._connections - self._frozen_at
        if grown < FREEZE_MIN_GROWTH or self._connections < self._frozen_at * FREEZE_GROWTH:
            return
        if self._freezing is None:
            due = max(FREEZE_SETTLE, self._frozen_when + FREEZE_EVERY - time.monotonic())
            self._freezing = asyncio.get_running_loop().call_later(due, self._freeze)

    def _freeze(self) -> None:
        self._freezing = None
        gc.collect(1)  # young garbage cycles are reclaimed now rather than frozen
        gc.freeze()
        self._frozen_at = self._connections
        self._frozen_when = time.monotonic()

    # changes -----------------------------------------------------------------------------------

    def boards_changed(self, program: Program, boards: set[str]) -> None:
        """``Leaderboards.on_change`` listener: runs on whichever thread advanced the boards,
        so it only hands the ids to the event loop (never blocks, never raises)."""
        loop = self._loop
        if loop is None or self.closing.is_set():
            return
        ids = frozenset(boards)
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            loop.call_soon_threadsafe(self._changed_here, ids)

    def _changed_here(self, boards: frozenset[str]) -> None:
        self._mark_dirty(boards)
        if not self.redis_url:
            return
        # Queued even while Redis is unreachable: the other processes may well be connected
        # and have no other way to learn about this process's writes once it is back.
        try:
            self._outbox.put_nowait({"b": sorted(boards)})
        except asyncio.QueueFull:
            self._lost = True  # too many to keep: ask everyone to refresh everything instead

    def _mark_dirty(self, boards: frozenset[str] | set[str]) -> None:
        # Challenge standings are boards too (``app.challenges.board_of``): a change names them.
        hit = self.watched() & boards
        if not hit:
            return
        self._dirty |= hit
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        # Changes arriving while a round renders are gathered into the next round: a burst of
        # sales costs a few renders, not one per sale.
        self._busy()
        try:
            while self._dirty and not self.closing.is_set():
                boards, self._dirty = self._dirty, set()
                feeds = [f for f in list(self._feeds.values()) if f.board in boards]
                await asyncio.gather(*(self._refresh(feed) for feed in feeds))
        finally:
            self._quiet()

    async def _refresh(self, feed: _Feed) -> None:
        try:
            html = await self._render(feed)
        except Exception:  # one broken board must not stop the others' pushes
            log.exception("rendering a live board failed")
            return
        if html is None:
            for sub in list(feed.subscribers):
                sub.end(POLICY_VIOLATION)

    async def _render(self, feed: _Feed, opening: bool = False) -> str | None:
        """Render the feed and, when this is the newest rendering so far and it differs from
        what was sent, send it to the feed's primed subscribers. Renderings run concurrently
        (a change while a client subscribes), so one that started earlier but finished later
        is dropped: it must never replace a newer board."""
        feed.started += 1
        ticket = feed.started
        html = await (self.opening(feed.render) if opening else run_in_threadpool(feed.render))
        if html is None or ticket <= feed.applied:
            return html
        feed.applied = ticket
        if html != feed.last:
            feed.last = html
            for sub in list(feed.subscribers):
                if sub.primed:
                    sub.offer(html)
        return html

    # personal toasts ---------------------------------------------------------------------------

    def boards_moved(self, program: Program, moves: list[BoardMoves]) -> None:
        """``Leaderboards.on_moves`` listener: like ``boards_changed``, only hands over."""
        loop = self._loop
        if loop is None or self.closing.is_set():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._moved_here, program, moves)

    def _moved_here(self, program: Program, moves: list[BoardMoves]) -> None:
        task = asyncio.get_running_loop().create_task(self._alert(program, moves))
        self._alerting.add(task)
        task.add_done_callback(self._alerting.discard)

    async def _alert(self, program: Program, moves: list[BoardMoves]) -> None:
        """Decide once per change (in the process that made it) who is told what, then tell
        this process's sockets and hand the toasts to the other processes."""
        try:
            found = await run_in_threadpool(self._decide, program, moves)
        except Exception:  # a toast is a nicety: never let it break anything else
            log.exception("live boards: deciding alerts failed")
            return
        # Throttled here, on the loop, where ``_told`` is only ever touched.
        now = time.monotonic()
        allowed = alerts.throttle(
            (alert for alert, _ in found), self._told, now, self.alert_min_seconds
        )
        chosen = {a.recipient for a in allowed}
        toasts = [(alert.recipient, text) for alert, text in found if alert.recipient in chosen]
        for rep_id in chosen:
            self._told[rep_id] = now
        if not toasts:
            return
        self._deliver(toasts)
        # Only while connected: a toast that arrives minutes late, after a Redis outage, is
        # wrong ("you are now #4") rather than late; the boards themselves resync anyway.
        if self.redis_url and self.redis_connected:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait({"t": [[rep, text] for rep, text in toasts]})

    def _decide(self, program: Program, moves: list[BoardMoves]) -> list[tuple[alerts.Alert, str]]:
        """Blocking (a worker thread): the alerts of one change, with their sentences."""
        rules = rules_of(program)
        period = rules.period_of(self.clock()).key
        current = [m for m in moves if m.spec.period_key == period]
        ranked = next((m for m in current if m.spec.metric == Metric.POINTS), None)
        if ranked is None:
            return []
        ladder_metric = Metric(rules.ladder.metric.value)
        laddered = next((m for m in current if m.spec.metric == ladder_metric), None)
        tier_values = (
            {
                pid: (was.value if was is not None else 0, laddered.after[pid].value)
                for pid, was in laddered.before.items()
                if pid in laddered.after
            }
            if laddered is not None
            else None
        )
        found = alerts.decide(
            {pid: _place(st) if st is not None else None for pid, st in ranked.before.items()},
            {pid: _place(st) for pid, st in ranked.after.items()},
            [_place(st) for st in ranked.passed],
            rules.ladder,
            tier_values,
        )
        # Only reps with a socket here or elsewhere could read it; the names are one query.
        names = _names(self, {a.by for a in found if a.by is not None})
        return [(alert, alerts.toast_text(alert, names)) for alert in found]

    def _deliver(self, toasts: list[tuple[int, str]]) -> None:
        for rep_id, text in toasts:
            html = toast_html(text)
            for sub in list(self._reps.get(rep_id, ())):
                if sub.primed:
                    sub.offer(html)

    # Redis fan-out -----------------------------------------------------------------------------

    async def _redis_forever(self) -> None:
        delay = BACKOFF_FIRST
        while not self.closing.is_set():
            client = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=2, health_check_interval=10
            )
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                self.redis_connected = True
                delay = BACKOFF_FIRST
                log.info("live boards: Redis fan-out connected")
                # Changes made elsewhere while we were cut off were never announced: refresh
                # every watched board (unchanged renderings are not re-sent).
                self._mark_dirty(self.watched())
                await _first_to_end(self._publish(client), self._listen(pubsub))
            except (RedisError, OSError) as exc:
                log.warning("live boards: Redis unavailable (%s); retrying in %.1fs", exc, delay)
            finally:
                self.redis_connected = False
                with contextlib.suppress(Exception):
                    await client.aclose()
            # Full jitter, so a fleet of processes does not reconnect in lockstep.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _publish(self, client: aioredis.Redis) -> None:
        while True:
            if self._lost:
                await client.publish(self.channel, json.dumps({"o": self._origin, "b": ["*"]}))
                self._lost = False
            # Kept aside until sent: a publish that fails is retried after the reconnect.
            if self._unsent is None:
                self._unsent = await self._outbox.get()
            message = {"o": self._origin, **self._unsent}
            await client.publish(self.channel, json.dumps(message))
            self._unsent = None

    async def _listen(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                data = json.loads(message["data"])
                origin, boards = data["o"], {str(b) for b in data.get("b", [])}
                toasts = [(int(rep), str(text)) for rep, text in data.get("t", [])]
            except (ValueError, KeyError, TypeError):
                log.warning("live boards: ignoring a malformed message")
                continue
            if origin == self._origin:  # our own changes were pushed when they happened
                continue
            if boards:
                self._mark_dirty(self.watched() if "*" in boards else boards)
            self._deliver(toasts)


def toast_html(text: str) -> str:
    """A toast as an out-of-band fragment appended to ``#toasts`` (the text is escaped)."""
    return str(
        Markup(
            '<div id="toasts" hx-swap-oob="beforeend"><p class="toast" role="status">{}</p></div>'
        ).format(text)
    )


def _warm_alert_boards(st: AppState, program: Program, now: datetime) -> None:
    """Personal alerts compare a mover's standing before and after a change, which only a
    board already held can tell (one built afterwards already holds the change): hold the
    boards alerts are computed on while a rep who could be told is watching."""
    rules = rules_of(program)
    period = rules.period_of(now).key
    for metric in {Metric.POINTS, Metric(rules.ladder.metric.value)}:
        spec = BoardSpec(Audience.REPS, Scope(ScopeKind.EVERYONE), metric, period)
        st.boards.standing_of(program, spec, 0)  # builds it; the answer does not matter


def _place(st: Standing) -> Place:
    return Place(st.participant_id, st.value, st.seq, st.rank)


def _names(hub: LiveHub, rep_ids: set[int]) -> dict[int, tuple[str | None, str | None]]:
    """(name, partner name) by rep id; None where the rep or partner chose anonymity."""
    if not rep_ids or hub._boards is None:
        return {}
    with hub._boards.db.session() as s:
        rows = s.execute(
            sa.select(
                col(Rep.id),
                col(Rep.name),
                col(Rep.anonymous),
                col(Partner.name),
                col(Partner.anonymous),
            )
            .join(Partner, col(Partner.id) == col(Rep.partner_id))
            .where(col(Rep.id).in_(rep_ids))
        ).all()
    return {r[0]: (None if r[2] else r[1], None if r[4] else r[3]) for r in rows}


async def _first_to_end(*jobs: Any) -> None:
    """Run coroutines until one ends (or fails); cancel the rest; re-raise its error."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


# -- the websocket endpoint ---------------------------------------------------------------------


def same_origin(conn: HTTPConnection, base_url: str) -> bool:
    """A browser always sends Origin on a websocket; it must be this site's (the Host the
    client reached, or the configured public URL). Blocks cross-site websocket hijacking:
    cookies ride along on a socket opened from any page."""
    origin = conn.headers.get("origin", "")
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    host = conn.headers.get("host", "")
    if host and parts.netloc.lower() == host.lower():
        return True
    base = urlsplit(base_url)
    return (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower())


def _state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.podium
    return state


def _login(st: AppState, token: str | None) -> Login | None:
    if not token:
        return None
    with st.db.session() as s:
        return resume_session(s, token, st.clock())


async def _login_of(st: AppState, token: str | None) -> Login | None:
    # No cookie, no lookup: an anonymous viewer (a TV, a public board) needs no worker thread.
    return await st.live.opening(_login, st, token) if token else None


@dataclass(frozen=True)
class _Watch:
    """What an accepted socket may watch, once its checks have passed."""

    key: Hashable  # its feed
    board: str
    render: Render
    rep_id: int | None = None
    recheck: Recheck | None = None


class LiveBoards:
    """``/ws/boards?period=&audience=&scope=&metric=`` (a board page), ``?tv=TOKEN`` or
    ``?challenge=ID``. A plain ASGI app (not a Starlette endpoint), so that ``web.Podium`` can
    hand it these sockets past the middleware and the router (see there why); it is also the
    route's app. Everything that decides whether a socket may watch is in here."""

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        opened = await _open(WebSocket(scope, receive, send))
        if opened is None:
            return
        hub, sub = opened
        # The handshake is over: what it needed (the request's headers, Starlette's parsed
        # copies of them, the query) is not kept for as long as the socket stays open.
        scope["headers"] = []
        # The subscriber sends (with a task of its own while it has something to send, and
        # closes the socket when the hub ends it); this task only reads. The page sends
        # nothing: reading is how the client leaving, or the socket closing, is noticed.
        sub.attach(send)
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            sub.end(None)
            hub.unsubscribe(sub)


live_boards = LiveBoards()


async def _open(websocket: WebSocket) -> tuple[LiveHub, Subscriber] | None:
    """Accept the socket, check it and subscribe it; None once it has been closed instead."""
    st = _state(websocket)
    hub = st.live
    # Accept first so the refusal can carry a close code a client can act on (1008 = do not
    # retry); nothing is sent before the checks pass.
    await websocket.accept()
    if not same_origin(websocket, st.settings.base_url):
        await websocket.close(POLICY_VIOLATION, "cross-origin websocket refused")
        return None
    if hub.closing.is_set():
        await websocket.close(SERVICE_RESTART)
        return None
    # Decided in coroutines of their own: what deciding needed (the query, the login, the
    # closures) is not held by this frame for as long as the socket stays open.
    watch = await _watch_of(websocket, st)
    if isinstance(watch, str):
        await websocket.close(POLICY_VIOLATION, watch)
        return None
    try:
        sub = await hub.subscribe(
            watch.key, watch.board, watch.render, rep_id=watch.rep_id, recheck=watch.recheck
        )
    except Exception:
        log.exception("live boards: the first rendering failed")
        await websocket.close(1011)  # internal error; the page still has its own board
        return None
    return hub, sub


async def _watch_of(websocket: WebSocket, st: AppState) -> _Watch | str:
    """The feed the socket asked for, or why it may not have it."""
    params = websocket.query_params
    if params.get("challenge", "").isdigit():
        return await _challenge_watch(websocket, st, int(params["challenge"]))
    token = params.get("tv", "")
    if token:
        return await _tv_watch(st, token, language_of(websocket, None))
    return await _board_watch(websocket, st)


async def _tv_watch(st: AppState, token: str, lang: str) -> _Watch | str:
    def tv_fragment() -> str | None:
        context = pages.tv_context(st, token, lang, st.clock())
        if context is None:
            return None
        return render_block(st.templates.env, "tv.html", "tv_board", oob=True, **context)

    def tv_board() -> tuple[Hashable, str] | None:
        context = pages.tv_context(st, token, lang, st.clock())
        if context is None:
            return None
        program: Program = context["program"]
        assert program.id is not None
        return ("tv", pages.token_hash(token), lang), st.boards.board_id(
            program.id, context["spec"]
        )

    def still_allowed() -> bool:
        return _tv_live(st, token)

    found = await st.live.opening(tv_board)
    if found is None:
        return "no such board, or this link is not active"
    key, board_id = found
    recheck = Recheck(("tv", pages.token_hash(token)), still_allowed)
    return _Watch(key, board_id, tv_fragment, recheck=recheck)


async def _board_watch(websocket: WebSocket, st: AppState) -> _Watch | str:
    params = websocket.query_params
    session_token = websocket.cookies.get(SESSION_COOKIE)
    login = await _login_of(st, session_token)
    lang = language_of(websocket, login)
    wanted = {k: params.get(k, "") for k in ("period", "audience", "scope", "metric")}
    # The home page (a rep's dashboard) watches its board like a board page does, but is
    # pushed its own blocks: the rep's card and the top-reps list.
    home = params.get("view") == "home"
    now = st.clock()

    def board() -> tuple[Hashable, str] | None:
        # The same validation as the page: an invalid board gets no socket.
        with st.db.session() as s:
            program = current_program(s)
            if program is None or program.id is None:
                return None
            try:
                spec = pages.parse_board(
                    s,
                    program,
                    pages.program_periods(program, now),
                    pages.places_of(s),
                    **wanted,
                )
            except ValueError:
                return None
        you = pages.you_on(login, spec.audience)
        if login is not None and login.user.rep_id is not None:
            _warm_alert_boards(st, program, now)
        canonical = {
            "period": spec.period_key,
            "audience": spec.audience.value,
            "scope": str(spec.scope),
            "metric": spec.metric.value,
        }
        wanted.update(canonical)  # the socket keeps the board it opened on
        if home:
            if spec != home_board(spec.period_key) or login is None:
                return None  # only a rep's dashboard is live, on the board it lists
            board_id = st.boards.board_id(program.id, spec)
            return ("home", board_id, login.user.rep_id, lang), board_id
        board_id = st.boards.board_id(program.id, spec)
        return ("board", board_id, you, lang), board_id

    def board_fragment() -> str | None:
        context = pages.board_context(st, login, lang, wanted, st.clock())
        if context.get("program") is None or context.get("error"):
            return None
        context["fmt_number"] = lambda v: _number(v, lang)
        context["lang"] = lang  # the block's words are translated into the viewer's language
        return render_block(st.templates.env, "boards.html", "board", oob=True, **context)

    def home_fragment() -> str | None:
        own = "rep:" if login is not None and login.user.rep_id is not None else ""
        context = home_context(st, login, lang, own, st.clock())
        if context.get("program") is None:
            return None
        context["lang"] = lang
        return "".join(
            render_block(st.templates.env, "home.html", block, oob=True, **context)
            for block in ("participant_card", "top_reps")
        )

    found = await st.live.opening(board)
    if found is None:
        return "no such board, or this link is not active"
    key, board_id = found
    if login is None:  # anonymous viewers have nothing to revoke
        return _Watch(key, board_id, home_fragment if home else board_fragment)
    return _Watch(
        key,
        board_id,
        home_fragment if home else board_fragment,
        rep_id=login.user.rep_id,
        recheck=_session_recheck(st, session_token),
    )


async def _challenge_watch(websocket: WebSocket, st: AppState, challenge_id: int) -> _Watch | str:
    """``?challenge=ID``: a challenge page's standings, for those who may see it."""
    session_token = websocket.cookies.get(SESSION_COOKIE)
    login = await _login_of(st, session_token)
    if login is None:
        return "log in to watch a challenge"
    lang = language_of(websocket, login)
    user = login.user

    def fragment() -> str | None:
        context = challenge_pages.challenge_context(st, user, challenge_id, st.clock())
        if context is None:
            return None
        context["lang"] = lang
        challenge_pages.add_formatters(context, context["program"])
        return render_block(st.templates.env, "challenge.html", "standings", oob=True, **context)

    # One feed per viewer: the rows mark "you" and the progress bar is the viewer's own.
    key = ("challenge", challenge_id, user.id, lang)
    board = board_of(challenge_id)
    return _Watch(key, board, fragment, recheck=_session_recheck(st, session_token))


def _session_recheck(st: AppState, session_token: str | None) -> Recheck:
    def still_allowed() -> bool:
        return _login(st, session_token) is not None

    return Recheck(("session", session_token), still_allowed)


def _number(value: int, lang: str) -> str:
    return formatting.number(value, lang)


def _tv_live(st: AppState, token: str) -> bool:
    with st.db.session() as s:
        return _live_link(s, token) is not None


def _refused(checks: dict[Hashable, Allowed]) -> list[Hashable]:
    """Blocking (one worker thread for the whole round): the keys no longer allowed."""
    return [key for key, allowed in checks.items() if not allowed()]
