from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from app.accounts import Role, create_user
from app.db import Database
from app.models import Event, ImportRun, Partner, Rep
from tests.app.conftest import client_for
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "page has no CSRF field"
    return match.group(1)


async def log_in(c: httpx.AsyncClient, email: str) -> None:
    page = await c.get("/login")
    r = await c.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    assert r.status_code == 303, r.text


def people(db: Database) -> None:
    with db.write() as s:
        rep = s.execute(sa.select(Rep).where(Rep.code == "R00000")).scalar_one()
        create_user(s, "admin@example.com", "Ayu Admin", PASSWORD, Role.PROGRAM_ADMIN)
        create_user(
            s,
            "rep@example.com",
            "Budi Santoso",
            PASSWORD,
            Role.REP,
            partner_id=rep.partner_id,
            rep_id=rep.id,
        )


async def test_home_shows_the_program_period_and_a_looked_up_participant(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        await c.post(
            "/api/v1/events",
            json={"events": [sale("e1", units=12)]},
            headers={"Authorization": f"Bearer {world.api_key}"},
        )
        page = await c.get("/?participant=R00000")
        fragment = await c.get("/?participant=R00000", headers={"HX-Request": "true"})
        unknown = await c.get("/?participant=NOPE")
    assert page.status_code == 200
    assert "Juara Elektronik 2026" in page.text and "2026-11" in page.text
    assert "Budi 0-0" in page.text and "88</strong> more units for <strong>Bronze" in page.text
    assert "<html" not in fragment.text and 'id="participant"' in fragment.text
    assert fragment.headers["Vary"].startswith("HX-Request")
    assert "No rep or partner with code" in unknown.text


async def test_home_page_has_strict_security_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_login_shows_my_own_card_and_logout_ends_the_session(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")
        home = await c.get("/")
        assert "Budi Santoso" in home.text and "R00000" in home.text
        stolen = c.cookies.get("podium_session")
        await c.post("/logout", data={"csrf_token": csrf_of(home)})
    async with client_for(sqlite_db) as thief:
        thief.cookies.set("podium_session", stolen)
        assert (
            "Log in" in (await thief.get("/")).text
            and "Budi Santoso" not in (await thief.get("/")).text
        )


async def test_wrong_password_and_unknown_email_get_the_same_answer(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        token = csrf_of(await c.get("/login"))
        wrong = await c.post(
            "/login",
            data={"email": "rep@example.com", "password": "nope-nope-nope", "csrf_token": token},
        )
        unknown = await c.post(
            "/login",
            data={"email": "who@example.com", "password": "nope-nope-nope", "csrf_token": token},
        )
    assert wrong.status_code == unknown.status_code == 400
    assert "do not match an account" in wrong.text and "do not match an account" in unknown.text


async def test_posts_without_a_csrf_token_are_refused(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await c.get("/login")
        r = await c.post("/login", data={"email": "rep@example.com", "password": PASSWORD})
        assert r.status_code == 403
        await log_in(c, "admin@example.com")
        r = await c.post("/admin/import", files={"file": ("a.csv", b"id\n")})
        assert r.status_code == 403


CSV = (
    "id,type,partner,rep,sku,units,amount,occurred_at,invoice\n"
    "c1,sale,PT000,R00000,TV-55,2,16000000,2026-11-02T10:00:00+07:00,INV-1\n"
    "c2,sale,PT000,R00000,NOPE,2,16000000,2026-11-02T10:00:00+07:00,INV-2\n"
    "c3,sale,PT001,R00100,AC-1PK,abc,9000000,2026-11-02T10:00:00+07:00,INV-3\n"
    "c4,training,PT001,R00100,,,,2026-11-03T10:00:00+07:00,\n"
)


async def test_admin_imports_a_csv_gets_every_bad_row_by_line_and_reimport_adds_nothing(
    sqlite_db: Database,
) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/import")
        token = csrf_of(page)
        first = await c.post(
            "/admin/import", data={"csrf_token": token}, files={"file": ("nov.csv", CSV.encode())}
        )
        again = await c.post(
            "/admin/import", data={"csrf_token": token}, files={"file": ("nov.csv", CSV.encode())}
        )
    assert first.status_code == 200
    assert re.search(
        r"<td>3</td><td>SKU &#39;NOPE&#39; is not in the product catalog</td>", first.text
    )
    assert re.search(r"<td>4</td><td>units must be a whole number", first.text)
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == 2
        runs = s.execute(
            sa.select(ImportRun.accepted, ImportRun.duplicates, ImportRun.rejected)
        ).all()
    assert runs == [(2, 0, 2), (0, 2, 2)]
    assert again.status_code == 200


async def test_only_program_admins_may_import(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        stranger = await c.get("/admin/import")
        assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")
        await log_in(c, "rep@example.com")
        assert (await c.get("/admin/import")).status_code == 403


PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    'hx-get="/admin"',
    '<b hx-on:click="alert(1)">x</b>',
    "</script><script>alert(1)</script>",
]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_names_are_escaped_on_the_home_page(
    sqlite_db: Database, payload: str
) -> None:
    world = make_world(sqlite_db)
    with sqlite_db.write() as s:
        s.execute(sa.update(Rep).where(Rep.code == "R00000").values(name=payload))
        s.execute(sa.update(Partner).where(Partner.code == "PT000").values(name=payload))
    async with client_for(sqlite_db) as c:
        await c.post(
            "/api/v1/events",
            json={"events": [sale("e1")]},
            headers={"Authorization": f"Bearer {world.api_key}"},
        )
        page = await c.get("/?participant=R00000")
    assert payload not in page.text
    assert payload.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in page.text


async def test_login_is_rate_limited_per_account_with_the_same_answer_for_unknown_emails(
    sqlite_db: Database,
) -> None:
    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        token = csrf_of(await c.get("/login"))

        async def attempt(email: str, password: str = "wrong-password!") -> httpx.Response:
            return await c.post(
                "/login", data={"email": email, "password": password, "csrf_token": token}
            )

        answers = [await attempt("rep@example.com") for _ in range(5)]
        limited = await attempt("rep@example.com", PASSWORD)  # even the right password waits
        unknown = [await attempt("nobody@example.com") for _ in range(6)]
        other = await attempt("admin@example.com", PASSWORD)  # another account is not blocked
    assert [a.status_code for a in answers] == [400] * 5
    assert limited.status_code == 429 and "Too many login attempts" in limited.text
    assert int(limited.headers["Retry-After"]) > 0
    assert [u.status_code for u in unknown] == [400] * 5 + [429]
    assert other.status_code == 303


async def test_login_is_rate_limited_per_address(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        token = csrf_of(await c.get("/login"))
        statuses = [
            (
                await c.post(
                    "/login",
                    data={"email": f"u{i}@example.com", "password": "x" * 12, "csrf_token": token},
                )
            ).status_code
            for i in range(31)
        ]
    assert statuses[:30] == [400] * 30 and statuses[30] == 429


async def test_a_session_cookie_stops_working_when_the_user_is_disabled(
    sqlite_db: Database,
) -> None:
    from datetime import UTC, datetime

    from app.accounts import disable_user
    from app.models import User

    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")
        assert "Budi Santoso" in (await c.get("/")).text
        with sqlite_db.write() as s:
            user = s.execute(sa.select(User).where(User.email == "rep@example.com")).scalar_one()
            disable_user(s, user, datetime.now(UTC))
        assert "Budi Santoso" not in (await c.get("/")).text


async def test_changing_the_password_ends_every_session(sqlite_db: Database) -> None:
    from datetime import UTC, datetime

    from app.accounts import authenticate, change_password
    from app.models import User

    make_world(sqlite_db)
    people(sqlite_db)
    async with client_for(sqlite_db) as phone, client_for(sqlite_db) as laptop:
        await log_in(phone, "rep@example.com")
        await log_in(laptop, "rep@example.com")
        with sqlite_db.write() as s:
            user = s.execute(sa.select(User).where(User.email == "rep@example.com")).scalar_one()
            change_password(s, user, "a brand new passphrase", datetime.now(UTC))
        assert "Budi Santoso" not in (await phone.get("/")).text
        assert "Budi Santoso" not in (await laptop.get("/")).text
    with sqlite_db.write() as s:
        assert authenticate(s, "rep@example.com", PASSWORD) is None
        assert authenticate(s, "rep@example.com", "a brand new passphrase") is not None
