"""CSRF protection and security headers for every response."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import ANON_CSRF_COOKIE, login_of

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


async def csrf_token_for(request: Request) -> str:
    """The token forms and htmx must send back: bound to the session when logged in,
    otherwise to a random cookie (double submit) so the login form is protected too."""
    login = await login_of(request)
    if login is not None:
        return login.session.csrf_token
    token = request.cookies.get(ANON_CSRF_COOKIE) or request.scope.get("podium_new_csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.scope["podium_new_csrf"] = token
    return str(token)


class SecurityMiddleware:
    """Refuses state-changing requests without a valid CSRF token (403) and adds security
    headers. The JSON API is exempt: it authenticates with a bearer key, never a cookie."""

    def __init__(self, app: ASGIApp, max_form_bytes: int) -> None:
        self.app = app
        self.max_form_bytes = max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and not scope["path"].startswith("/api/"):
            body = await _read_body(receive, self.max_form_bytes)
            if body is None:
                await PlainTextResponse("Upload too large.", 413)(scope, receive, send)
                return
            replay = _replayer(body)
            request = Request(scope, replay)
            sent = request.headers.get("X-CSRF-Token")
            if not sent:
                form = await request.form()
                sent = str(form.get("csrf_token", ""))
                await form.close()
            expected = await _expected_token(request)
            if not expected or not sent or not hmac.compare_digest(sent, expected):
                response = PlainTextResponse(
                    "This form has expired or did not come from Podium. Reload the page and try again.",
                    403,
                )
                await response(scope, receive, _with_headers(send, scope))
                return
            receive = _replayer(body)
        await self.app(scope, receive, _with_headers(send, scope))


async def _expected_token(request: Request) -> str | None:
    login = await login_of(request)
    if login is not None:
        return login.session.csrf_token
    return request.cookies.get(ANON_CSRF_COOKIE)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_headers(send: Send, scope: Scope) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = message.setdefault("headers", [])
            present = {k.decode().lower() for k, _ in headers}
            for name, value in HEADERS.items():
                if name.lower() not in present:
                    headers.append((name.encode(), value.encode()))
            new_csrf = scope.get("podium_new_csrf")
            if new_csrf and ANON_CSRF_COOKIE not in Headers(scope=scope).get("cookie", ""):
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                headers.append(
                    (
                        b"set-cookie",
                        f"{ANON_CSRF_COOKIE}={new_csrf}; Path=/; HttpOnly; SameSite=Lax{secure}".encode(),
                    )
                )
        await send(message)

    return wrapped
