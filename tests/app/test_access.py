"""Who may open what: every route of the app, enumerated from the router, for every role and a
stranger, against a claim of another partner and another region. A new route fails this test
until its rule is written down in ACCESS."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from app.claims import submit_claim
from app.db import Database
from app.models import Claim
from app.photos import reencode_photo
from app.web import create_app
from tests.app.conftest import client_for
from tests.app.test_claims import NOW, PASSWORD, _form, _people, _png, _program
from tests.app.test_pages import csrf_of

pytestmark = pytest.mark.anyio
ROLES = ("stranger", "rep", "colleague", "owner", "manager", "other_manager", "admin")
EMAIL = {
    "rep": "rep@example.com",
    "colleague": "rep2@example.com",
    "owner": "owner@example.com",
    "manager": "mgr@example.com",
    "other_manager": "sby@example.com",
    "admin": "admin@example.com",
}
OK, LOGIN, NO, GONE, AUTH = 200, 303, 403, 404, 401
PUBLIC = dict.fromkeys(ROLES, OK)
ADMIN_ONLY = {**dict.fromkeys(ROLES, NO), "stranger": LOGIN, "admin": OK}

# (method, path) -> role -> expected status. The claim is rep's, of partner PT000 in region JKT;
# "manager" manages JKT, "other_manager" only SBY; "colleague" and "owner" share rep's partner.
ACCESS: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/rules"): PUBLIC,  # "if I reach X, I get Y" is no secret
    ("GET", "/boards"): PUBLIC,  # public boards: names of those who opted out are hidden
    ("GET", "/boards/history"): PUBLIC,
    ("GET", "/participants/{code}"): PUBLIC,
    ("GET", "/tv/{token}"): dict.fromkeys(ROLES, GONE),  # only a live secret token opens one
    ("GET", "/admin/tv"): ADMIN_ONLY,
    ("GET", "/admin/import"): ADMIN_ONLY,
    ("GET", "/admin/schedule"): ADMIN_ONLY,  # closes, reopens, late events
    # Accounts and enrollment: anyone may ask for a reset link; a reset or invitation page
    # opens only for a live secret token (404 alike for every role otherwise).
    ("GET", "/password/forgot"): PUBLIC,
    ("GET", "/password/reset/{token}"): dict.fromkeys(ROLES, GONE),
    ("GET", "/invite/{token}"): dict.fromkeys(ROLES, GONE),
    ("GET", "/admin/partners"): ADMIN_ONLY,  # enrolment of partners
    # A partner's admin manages its own team only (the page takes no partner id).
    ("GET", "/team"): {**dict.fromkeys(ROLES, NO), "stranger": LOGIN, "owner": OK},
    # Everyone logged in has a profile (their own only: it takes no id); a stranger logs in.
    ("GET", "/profile"): {**dict.fromkeys(ROLES, OK), "stranger": LOGIN},
    # Reps submit and see their own; a partner admin sees its company's; deciders are sent on
    # to their review page.
    ("GET", "/claims"): {
        **dict.fromkeys(ROLES, LOGIN),
        "rep": OK,
        "colleague": OK,
        "owner": OK,
    },
    ("GET", "/claims/review"): {
        **dict.fromkeys(ROLES, NO),
        "stranger": LOGIN,
        "manager": OK,
        "other_manager": OK,
        "admin": OK,
    },
    ("GET", "/claims/{claim_id:int}/photo"): {
        **dict.fromkeys(ROLES, GONE),
        "stranger": AUTH,
        "rep": OK,
        "manager": OK,
        "admin": OK,
    },
    ("GET", "/api/v1/participants/{code}"): dict.fromkeys(ROLES, AUTH),  # API key, not cookies
    ("GET", "/api/v1/leaderboards/{program}/{scope}/{metric}"): dict.fromkeys(ROLES, AUTH),
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    # Challenges: everyone logged in has a list (only what they may see); managers and admins
    # define. One challenge's page answers 404 alike for "none" and "not yours" (see
    # tests/app/test_challenges_http.py for region A against region B).
    ("GET", "/challenges"): {**dict.fromkeys(ROLES, OK), "stranger": LOGIN},
    ("GET", "/challenges/new"): {
        **dict.fromkeys(ROLES, NO),
        "stranger": LOGIN,
        "manager": OK,
        "other_manager": OK,
        "admin": OK,
    },
    ("GET", "/challenges/{challenge_id:int}"): {**dict.fromkeys(ROLES, GONE), "stranger": LOGIN},
    ("GET", "/api/v1/challenges"): dict.fromkeys(ROLES, AUTH),
    ("GET", "/api/v1/challenges/{challenge_id:int}/progress/{code}"): dict.fromkeys(ROLES, AUTH),
    # Badges: a shared badge link opens for anyone (gallery, showcases, earned pages, images,
    # certificates, Open Badges documents); "my badges" needs a login; admins define them.
    # An unknown award, badge or image answers 404 alike for everyone.
    ("GET", "/badges"): PUBLIC,
    ("GET", "/badges/mine"): {**dict.fromkeys(ROLES, OK), "stranger": LOGIN},
    ("GET", "/badges/showcase/{code}"): PUBLIC,
    ("GET", "/badges/earned/{uid}"): dict.fromkeys(ROLES, GONE),
    ("GET", "/badges/earned/{uid}/card.png"): dict.fromkeys(ROLES, GONE),
    ("GET", "/badges/earned/{uid}/baked.png"): dict.fromkeys(ROLES, GONE),
    ("GET", "/badges/earned/{uid}/certificate.pdf"): dict.fromkeys(ROLES, GONE),
    # R00000 has no place in 2026-10 (its claim is not approved).
    ("GET", "/badges/placements/{program}/{period}/{code}/certificate.pdf"): dict.fromkeys(
        ROLES, GONE
    ),
    ("GET", "/badges/assertions/{uid}"): dict.fromkeys(ROLES, GONE),
    ("GET", "/badges/classes/{program}/{badge}/{level}"): dict.fromkeys(ROLES, GONE),
    ("GET", "/badges/issuers/{program}"): PUBLIC,
    ("GET", "/badges/art/{program}/{badge}/{level}/{size:int}.png"): dict.fromkeys(ROLES, GONE),
    ("GET", "/admin/badges"): ADMIN_ONLY,
}
# Deciding a claim: only a manager of its region or an admin (303: decided, back to the list);
# never the rep, its colleague, its partner's admin or a manager of another region (403);
# a stranger is sent to log in (303 to /login).
DECIDE = {**dict.fromkeys(ROLES, NO), "stranger": LOGIN, "manager": LOGIN, "admin": LOGIN}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_every_get_route_has_a_written_rule() -> None:
    routes = {
        ("GET", r.path)
        for r in create_app().router.routes
        if isinstance(r, Route) and not isinstance(r, Mount) and "GET" in (r.methods or set())
    }
    assert routes == set(ACCESS), f"write the access rule for: {routes ^ set(ACCESS)}"
    assert any(isinstance(r, WebSocketRoute) for r in create_app().router.routes)  # test_live.py


def _fill(path: str, claim_id: int) -> str:
    path = path.replace("{claim_id:int}", str(claim_id)).replace("{code}", "R00000")
    path = path.replace("{challenge_id:int}", "999")
    path = path.replace("{uid}", "no-such-award").replace("{badge}", "no-such-badge")
    path = path.replace("{level}", "gold").replace("{size:int}", "512")
    path = path.replace("{period}", "2026-10")
    path = path.replace("{token}", "not-a-live-token").replace("{program}", "P1")
    return path.replace("{scope}", "everyone").replace("{metric}", "points")


@pytest.mark.parametrize("who", ROLES)
async def test_each_role_gets_exactly_what_its_rule_says_on_every_route(
    sqlite_db: Database, tmp_path: Path, who: str
) -> None:
    users = _people(sqlite_db)
    claim = submit_claim(
        sqlite_db,
        _program(sqlite_db),
        users["rep"],
        _form(),
        NOW,
        photo=reencode_photo(_png()),
        photo_dir=tmp_path / "claims",
    )
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        if who != "stranger":
            page = await c.get("/login")
            r = await c.post(
                "/login",
                data={"email": EMAIL[who], "password": PASSWORD, "csrf_token": csrf_of(page)},
            )
            assert r.status_code == 303
        for (method, path), rule in ACCESS.items():
            answer = await c.request(method, _fill(path, claim.id or 0))
            assert answer.status_code == rule[who], (who, method, path, answer.status_code)
            if path == "/claims/review" and answer.status_code == OK:
                assert ("INV-0042" in answer.text) == (who != "other_manager"), who
        # Deciding with a valid CSRF token: cross-partner and cross-region attempts never pass.
        token = (
            csrf_of(await c.get("/login"))
            if who == "stranger"
            else _session_token(c, await c.get("/"))
        )
        decided = await c.post(f"/claims/{claim.id}/approve", data={"csrf_token": token})
    assert decided.status_code == DECIDE[who], (who, decided.status_code)
    with sqlite_db.session() as s:
        status = s.get(Claim, claim.id).status  # type: ignore[union-attr]
    assert status == ("approved" if who in ("manager", "admin") else "pending"), who


def _session_token(c: httpx.AsyncClient, page: httpx.Response) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert match, "a logged-in page carries the session's CSRF token"
    return match.group(1)
