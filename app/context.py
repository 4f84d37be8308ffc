"""What a request handler needs from the app, typed, and who is asking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from app.accounts import Login, resume_session
from app.boards import Leaderboards
from app.db import Database
from app.pagecache import PageCache
from app.ratelimit import LoginLimiter
from app.settings import Settings

if TYPE_CHECKING:  # app.live imports this module
    from app.live import LiveHub

SESSION_COOKIE = "podium_session"
ANON_CSRF_COOKIE = "podium_csrf"


@dataclass
class AppState:
    settings: Settings
    db: Database
    templates: Jinja2Templates
    clock: Callable[[], datetime]
    boards: Leaderboards
    pages: PageCache
    login_limiter: LoginLimiter
    live: LiveHub


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.podium
    return state


async def login_of(request: Request) -> Login | None:
    """The logged-in person behind this request (looked up once per request)."""
    if "podium_login" not in request.scope:
        token = request.cookies.get(SESSION_COOKIE)
        login = None
        if token:
            st = state_of(request)

            def lookup() -> Login | None:
                with st.db.session() as s:
                    return resume_session(s, token, st.clock())

            login = await run_in_threadpool(lookup)
        request.scope["podium_login"] = login
    result: Login | None = request.scope["podium_login"]
    return result


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    block: str | None = None,
    status_code: int = 200,
) -> Response:
    """The whole page, or only ``block`` when htmx asks for a fragment (same template, one truth)."""
    templates = state_of(request).templates
    if block is not None and is_htmx(request):
        response: Response = templates.TemplateResponse(  # type: ignore[call-arg]
            request, template, context, block_name=block, status_code=status_code
        )
    else:
        response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request, Cookie, Accept-Language"
    return response
