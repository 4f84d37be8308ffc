"""The Starlette application: routes, middleware, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

import redis
from jinja2_fragments.starlette import Jinja2Blocks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from app import i18n
from app.accounts import ResetRequestLimiter
from app.boards import Leaderboards
from app.challenges import ChallengeBoards
from app.context import AppState
from app.db import Database
from app.live import LiveHub, live_boards
from app.mail import OutboxSender, delivery_for
from app.models import utcnow
from app.pagecache import PageCache
from app.ratelimit import LoginLimiter
from app.routes import accounts as account_pages
from app.routes import api, claims, pages, profile, rules
from app.routes import badges as badge_pages
from app.routes import boards as board_pages
from app.routes import challenges as challenge_pages
from app.routes import schedule as schedule_pages
from app.scheduler import Scheduler
from app.security import SecurityMiddleware
from app.settings import Settings, get_settings


def freeze_startup_heap() -> None:
    """Move what startup made (modules, models, templates, compiled queries) out of the garbage
    collector's reach: it lives as long as the process, and every full collection would walk it
    again while requests wait (``gc.freeze``, as the Python docs advise for servers)."""
    gc.collect()
    gc.freeze()


LIVE_PATH = "/ws/boards"


class Podium(Starlette):
    """The app. Its live-board sockets go straight to their endpoint (``app.live``), past the
    middleware and the router: a socket stays open for hours, and every ASGI layer it passes
    keeps a suspended frame all that time (Starlette's wrappers also a closure or two and a
    ``WebSocket`` each), about 6 KiB a socket in all. Nothing there applies to a websocket:
    the error, gzip and security (CSRF, headers) middleware pass non-HTTP scopes straight on,
    and the endpoint raises nothing the exception middleware would turn into a close. Other
    websocket paths go through Starlette (and are refused there: no other route takes one)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == LIVE_PATH:
            scope["app"] = self
            await live_boards(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # The path as the router matches it: without the root path a proxy may mount the app under.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    clock: Callable[[], datetime] = utcnow,
    background: Sequence[Callable[[AppState, asyncio.Event], Coroutine[Any, Any, None]]] = (),
    scheduler: bool = False,
) -> Podium:
    """``background`` tasks (e.g. the demo's sales simulator) run for the server's lifetime;
    ``scheduler`` also runs the scheduled jobs in it (``podium serve``, unless --no-scheduler)."""
    settings = settings or get_settings()
    database = db or Database(settings.effective_database_url)
    templates = Jinja2Blocks(directory=str(settings.templates_dir))  # autoescape on for .html
    templates.env.globals["static_version"] = "1"
    i18n.install(templates.env)
    templates.env.filters["league"] = board_pages.league_filter
    redis_client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    boards = Leaderboards(database, redis_client, view_max_age=settings.board_refresh_seconds)
    boards.sources.append(ChallengeBoards(database))
    live = LiveHub(settings.redis_url, clock=clock, alert_min_seconds=settings.alert_min_seconds)
    live.attach(boards)
    outbox = OutboxSender(database, delivery_for(settings), clock)
    jobs = Scheduler(database, clock) if scheduler else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        freeze_startup_heap()
        await live.start()
        if jobs is not None:  # period closes, challenges, reminders (app/scheduler.py)
            jobs.start()
            app.state.scheduler = jobs
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(job(app.state.podium, stop)) for job in (*background, outbox.run)
        ]
        yield
        stop.set()
        await live.stop()
        if jobs is not None:
            jobs.shutdown()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
        if db is None:  # we made it, we close it
            database.dispose()

    app = Podium(
        routes=[
            # Boards and TV screens take most of the traffic: matched first (Starlette tries
            # routes in order, one regex each).
            *board_pages.routes,
            # Sockets on it are handed to its app before the router (``Podium``).
            WebSocketRoute(LIVE_PATH, live_boards),
            *api.routes,
            *claims.routes,
            *challenge_pages.routes,
            *badge_pages.routes,
            *rules.routes,
            *profile.routes,
            *account_pages.routes,
            *schedule_pages.routes,
            *pages.routes,
            Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
        ],
        middleware=[
            Middleware(GZipMiddleware, minimum_size=1024),
            Middleware(SecurityMiddleware, max_form_bytes=settings.max_upload_bytes + 64 * 1024),
        ],
        lifespan=lifespan,
    )
    app.state.podium = AppState(
        settings=settings,
        db=database,
        templates=templates,
        clock=clock,
        boards=boards,
        pages=PageCache(),
        login_limiter=LoginLimiter(settings.redis_url or "memory://"),
        live=live,
    )
    app.state.outbox = outbox  # woken by the account pages once their email is committed
    app.state.reset_limiter = ResetRequestLimiter(settings.redis_url or "memory://")
    return app
