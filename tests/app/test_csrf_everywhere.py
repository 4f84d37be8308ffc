"""Every state-changing route, enumerated from the router (not a hand list), refuses a request
without a valid CSRF token: for a stranger and for a logged-in program admin alike."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Mount, Route

from app.db import Database
from app.web import create_app
from tests.app.conftest import client_for
from tests.app.test_pages import log_in, people
from tests.factories import make_world

pytestmark = pytest.mark.anyio
API_PREFIX = "/api/"  # bearer-key API: no cookies, so no CSRF (tested in test_api.py)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def state_changing_routes() -> list[tuple[str, str]]:
    app = create_app()
    found = []
    for route in app.router.routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            if not route.path.startswith(API_PREFIX):
                # Fill path parameters with something plausible: refusal must come first.
                found.append((method, re.sub(r"\{[^}]+\}", "1", route.path)))
    return found


def test_the_router_has_state_changing_routes_to_check() -> None:
    assert {("POST", "/login"), ("POST", "/logout"), ("POST", "/admin/import")} <= set(
        state_changing_routes()
    )


@pytest.mark.parametrize(("method", "path"), state_changing_routes())
@pytest.mark.parametrize("who", ["stranger", "program admin"])
async def test_state_changing_route_refuses_a_request_without_a_valid_csrf_token(
    sqlite_db: Database, method: str, path: str, who: str
) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        if who == "program admin":
            await log_in(c, "admin@example.com")
        missing = await c.request(method, path, data={"x": "1"})
        forged = await c.request(method, path, data={"csrf_token": "forged"})
        header = await c.request(
            method, path, headers={"X-CSRF-Token": "forged", "HX-Request": "true"}
        )
    for answer in (missing, forged, header):
        assert isinstance(answer, httpx.Response)
        assert answer.status_code == 403, (method, path, who, answer.status_code)
