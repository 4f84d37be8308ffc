"""My profile: language, hiding a name on public boards (seen at once, cached pages and live
boards included), changing the password."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.accounts import authenticate
from app.db import Database
from app.ingest import ingest_events
from app.models import Partner, Rep, User
from app.programs import current_program
from app.settings import Settings
from app.web import create_app
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _people
from tests.app.test_live import app_for, next_push, serving, watching
from tests.app.test_pages import PASSWORD, csrf_of, log_in
from tests.factories import sale

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _sales(db: Database, *events: dict[str, object]) -> None:
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    report = ingest_events(db, program, "erp", list(events), NOW)
    assert report.accepted == len(events), report


async def _post(c: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await c.get("/profile")
    return await c.post(path, data={"csrf_token": csrf_of(page), **fields})


def _client(app: Starlette) -> httpx.AsyncClient:
    """A browser of ``app``: several of them share its page cache, like people on one server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _lang(page: httpx.Response) -> str:
    match = re.search(r'<html lang="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_a_stranger_is_asked_to_log_in_first(sqlite_db: Database) -> None:
    async with client_for(sqlite_db) as c:
        r = await c.get("/profile")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/profile"


async def test_a_rep_picks_indonesian_and_later_the_browser_language_again(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db) as c:
        await log_in(c, "rep@example.com")
        page = await c.get("/profile", headers={"Accept-Language": "en"})
        assert 'value="" checked' in page.text and "Hide my name on public boards" in page.text
        saved = await _post(c, "/profile", language="id")
        assert saved.status_code == 303 and saved.headers["location"] == "/profile?saved=settings"
        after = await c.get("/profile?saved=settings", headers={"Accept-Language": "en"})
        home = await c.get("/", headers={"Accept-Language": "en"})
        assert _lang(after) == "id" and _lang(home) == "id"
        assert "Pengaturan Anda sudah disimpan." in after.text
        assert 'value="id" checked' in after.text
        await _post(c, "/profile", language="")
        assert _lang(await c.get("/", headers={"Accept-Language": "id-ID,id;q=0.9"})) == "id"
        assert _lang(await c.get("/", headers={"Accept-Language": "en-GB"})) == "en"
    with any_db.session() as s:
        user = s.execute(sa.select(User).where(User.email == "rep@example.com")).scalar_one()
    assert user.language == ""


async def test_a_language_that_is_not_offered_is_refused_with_a_sentence(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")
        r = await _post(c, "/profile", language="fr", hide_me="on")
    assert r.status_code == 400
    assert "Choose English, Bahasa Indonesia or the language of your browser." in r.text
    with sqlite_db.session() as s:
        rep = s.execute(sa.select(Rep).where(Rep.code == "R00000")).scalar_one()
    assert rep.anonymous is False  # nothing half-saved


async def test_hiding_my_name_shows_anonymous_on_every_public_page_at_once(
    any_db: Database,
) -> None:
    _people(any_db)  # R00000 "Budi 0-0" is the rep@example.com account
    _sales(
        any_db,
        sale("a", units=5, rep="R00000"),
        sale("b", units=3, rep="R00001"),
        sale("c", units=1, rep="R00000", occurred_at="2026-10-20T10:00:00+07:00"),  # history
    )
    pages = ("/boards", "/", "/participants/R00000", "/boards/history")
    app = create_app(Settings(PODIUM_BOARD_REFRESH_SECONDS=0), db=any_db, clock=lambda: NOW)
    async with _client(app) as c, _client(app) as stranger:
        # Both have seen the pages with the name on them, twice: the page cache holds them.
        for _ in range(2):
            for path in pages:
                assert "Budi 0-0" in (await stranger.get(path)).text, path
        await log_in(c, "rep@example.com")
        assert "Budi 0-0" in (await c.get("/boards")).text
        r = await _post(c, "/profile", language="", hide_me="on")
        assert r.status_code == 303
        for client in (stranger, c):
            for path in pages:
                text = (await client.get(path)).text
                assert "Budi 0-0" not in text and "Anonymous" in text, path
        mine = await c.get("/profile")
        assert 'name="hide_me" checked' in mine.text
        await _post(c, "/profile", language="")  # unticked: shown again
        assert "Budi 0-0" in (await stranger.get("/boards")).text


async def test_a_partner_admin_hides_the_company_name_and_has_no_name_of_its_own_to_hide(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)  # owner@example.com is the partner admin of PT000, "Toko Maju 0"
    _sales(sqlite_db, sale("a", units=5, rep="R00000"))
    async with client_for(sqlite_db) as c:
        await log_in(c, "owner@example.com")
        page = await c.get("/profile")
        assert "hide_company" in page.text and "hide_me" not in page.text
        assert "Toko Maju 0" in (await c.get("/boards?audience=partners")).text
        await _post(c, "/profile", language="", hide_company="on", hide_me="on")
    async with client_for(sqlite_db) as stranger:
        partners = await stranger.get("/boards?audience=partners")
        reps = await stranger.get("/boards")
    assert "Toko Maju 0" not in partners.text and "Anonymous" in partners.text
    assert "Toko Maju 0" not in reps.text and "Budi 0-0" in reps.text  # the rep chose nothing
    with sqlite_db.session() as s:
        assert s.execute(sa.select(Partner).where(Partner.code == "PT000")).scalar_one().anonymous
        assert not any(r.anonymous for r in s.execute(sa.select(Rep)).scalars())


async def test_a_manager_sets_a_language_and_can_hide_nobody(sqlite_db: Database) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "mgr@example.com")
        page = await c.get("/profile")
        r = await _post(c, "/profile", language="id", hide_me="on", hide_company="on")
    assert page.status_code == 200 and "hide_me" not in page.text
    assert "hide_company" not in page.text
    assert r.status_code == 303
    with sqlite_db.session() as s:
        assert not any(r.anonymous for r in s.execute(sa.select(Rep)).scalars())
        assert not any(p.anonymous for p in s.execute(sa.select(Partner)).scalars())


async def test_changing_the_password_ends_every_session_and_logs_this_browser_in_again(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db) as c, client_for(any_db) as phone:
        await log_in(c, "rep@example.com")
        await log_in(phone, "rep@example.com")
        before = c.cookies.get("podium_session")
        wrong = await _post(
            c,
            "/profile/password",
            current_password="not it at all",
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        differ = await _post(
            c,
            "/profile/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD + "!",
        )
        short = await _post(
            c,
            "/profile/password",
            current_password=PASSWORD,
            new_password="short",
            confirm_password="short",
        )
        assert (wrong.status_code, differ.status_code, short.status_code) == (400, 400, 400)
        assert "That is not your current password." in wrong.text
        assert "The two passwords differ." in differ.text
        assert "at least 10 characters" in short.text
        assert (await phone.get("/profile")).status_code == 200  # nothing changed yet
        done = await _post(
            c,
            "/profile/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
        assert done.status_code == 303 and done.headers["location"] == "/profile?saved=password"
        assert c.cookies.get("podium_session") not in (None, before)
        page = await c.get("/profile?saved=password")
        assert page.status_code == 200 and "logged in again with a new session" in page.text
        # The other device and the cookie from before the change are both logged out.
        assert (await phone.get("/profile")).status_code == 303
        async with client_for(any_db) as thief:
            thief.cookies.set("podium_session", before or "")
            assert (await thief.get("/profile")).status_code == 303
        # The new password opens a session, the old one no longer does.
        async with client_for(any_db) as again:
            login_page = await again.get("/login")
            old = await again.post(
                "/login",
                data={
                    "email": "rep@example.com",
                    "password": PASSWORD,
                    "csrf_token": csrf_of(login_page),
                },
            )
            new = await again.post(
                "/login",
                data={
                    "email": "rep@example.com",
                    "password": NEW_PASSWORD,
                    "csrf_token": csrf_of(login_page),
                },
            )
    assert old.status_code == 400 and new.status_code == 303


async def test_guessing_the_current_password_is_rate_limited_like_a_login(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")  # one attempt of this account's five a minute
        answers = [
            (
                await _post(
                    c,
                    "/profile/password",
                    current_password=f"guess number {n}",
                    new_password=NEW_PASSWORD,
                    confirm_password=NEW_PASSWORD,
                )
            ).status_code
            for n in range(4)
        ]
        limited = await _post(
            c,
            "/profile/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        )
    assert answers == [400] * 4
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many attempts." in limited.text
    with sqlite_db.session() as s:  # refused while limited, even with the right password
        assert authenticate(s, "rep@example.com", PASSWORD) is not None


async def test_an_open_live_board_shows_anonymous_as_soon_as_the_rep_opts_out(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    _sales(sqlite_db, sale("a", units=5, rep="R00000"))
    query = "period=2026-11&audience=reps&scope=everyone&metric=points"
    with serving(app_for(sqlite_db)) as host:
        async with watching(host, query) as ws:
            assert "Budi 0-0" in await next_push(ws)
            async with httpx.AsyncClient(base_url=f"http://{host}") as c:
                await log_in(c, "rep@example.com")
                assert (await _post(c, "/profile", language="", hide_me="on")).status_code == 303
            pushed = await next_push(ws)
    assert "Budi 0-0" not in pushed and "Anonymous" in pushed
