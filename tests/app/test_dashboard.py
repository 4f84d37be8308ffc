"""My dashboard: streak, my place on each of my boards, recent activity; live for a rep."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from app.boards import Leaderboards
from app.claims import approve_claim, submit_claim
from app.dashboard import dashboard_of
from app.db import Database
from app.ingest import ingest_events
from app.ledger import reverse_entry
from app.models import Event, LedgerEntry, Program, User
from app.programs import current_program
from game.boards import ScopeKind
from game.streaks import Streak
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _form, _people
from tests.app.test_live import app_for, next_push, post_sales, serving, watching
from tests.app.test_live_alerts import HOME, log_in_rep
from tests.app.test_pages import log_in
from tests.factories import sale

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _program(db: Database) -> Program:
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    return program


def _sales(db: Database, *events: dict[str, object]) -> None:
    report = ingest_events(db, _program(db), "erp", list(events), NOW)
    assert report.accepted == len(events), report


def _user(db: Database, email: str) -> User:
    with db.session() as s:
        return s.execute(sa.select(User).where(User.email == email)).scalar_one()


def _month(day: str, rep: str = "R00000", units: int = 1, n: str = "") -> dict[str, object]:
    return sale(f"{rep}-{day}{n}", units=units, rep=rep, occurred_at=f"{day}T10:00:00+07:00")


def _dashboard(db: Database, email: str, now: datetime = NOW) -> object:
    with db.session() as s:
        return dashboard_of(
            s, Leaderboards(db, view_max_age=0), _program(db), _user(db, email), now
        )


def test_the_streak_counts_consecutive_months_with_a_sale_and_keeps_the_longest(
    any_db: Database,
) -> None:
    _people(any_db)
    # Feb, Mar, Apr, May; a gap in June; Aug, Sep, Oct; November (now) has none yet.
    months = ["02", "03", "04", "05", "08", "09", "10"]
    _sales(any_db, *(_month(f"2026-{m}-10") for m in months))
    board = _dashboard(any_db, "rep@example.com")
    assert board.streak == Streak(current=3, longest=4)  # type: ignore[attr-defined]
    assert board.cadence == "month"  # type: ignore[attr-defined]
    # Once November is over without a sale the streak is broken; the longest stays.
    december = datetime(2026, 12, 2, tzinfo=UTC)
    assert _dashboard(any_db, "rep@example.com", december).streak == Streak(0, 4)  # type: ignore[attr-defined]


def test_a_reversed_sale_does_not_keep_a_streak_alive(sqlite_db: Database) -> None:
    _people(sqlite_db)
    _sales(sqlite_db, _month("2026-09-10"), _month("2026-10-10"), _month("2026-11-10"))
    with sqlite_db.session() as s:
        october = s.execute(
            sa.select(LedgerEntry.id)
            .join(Event, Event.id == LedgerEntry.event_id)
            .where(Event.period_key == "2026-10")
        ).scalar_one()
    with sqlite_db.write() as s:
        reverse_entry(s, sqlite_db, october, memo="returned goods", now=NOW)
    assert _dashboard(sqlite_db, "rep@example.com").streak == Streak(1, 1)  # type: ignore[attr-defined]


def test_a_rep_sees_its_place_on_its_league_region_everyone_and_company_boards(
    any_db: Database,
) -> None:
    _people(any_db)  # PT000 (JKT): R00000 (rep@) and R00001; PT001 (SBY): R00100, R00101
    _sales(
        any_db,
        sale("a", units=5, rep="R00000"),  # 50 points
        sale("b", units=8, rep="R00001"),  # 80
        sale("c", units=10, partner="PT001", rep="R00100"),  # 100
    )
    places = {p.scope: p for p in _dashboard(any_db, "rep@example.com").places}  # type: ignore[attr-defined]
    assert list(places) == [ScopeKind.LEAGUE, ScopeKind.REGION, ScopeKind.EVERYONE, ScopeKind.TEAM]
    league, region, everyone, team = places.values()
    assert (league.rank, league.size, league.to_next, league.next_rank) == (3, 3, 30, 2)
    assert (region.rank, region.size, region.to_next, region.next_rank) == (2, 2, 30, 1)
    assert (everyone.rank, everyone.size) == (3, 3)
    assert (team.rank, team.size, team.scope_name) == (2, 2, "Toko Maju 0")
    assert region.href == ("/boards?period=2026-11&audience=reps&scope=region%3AJKT&metric=points")
    # The colleague on top of its region has nobody to catch there.
    top = {p.scope: p for p in _dashboard(any_db, "rep2@example.com").places}  # type: ignore[attr-defined]
    assert (top[ScopeKind.REGION].rank, top[ScopeKind.REGION].to_next) == (1, None)


async def test_the_dashboard_page_shows_ranks_streak_and_recent_activity_in_the_program_zone(
    any_db: Database, tmp_path: object
) -> None:
    users = _people(any_db)
    program = _program(any_db)
    _sales(any_db, *(_month("2026-10-01", n=str(i)) for i in range(10)))
    _sales(
        any_db,
        # 23:30 UTC on the 20th is the 21st in Jakarta: the date shown is Jakarta's.
        sale("late", units=2, rep="R00000", occurred_at="2026-11-20T23:30:00+00:00"),
        sale("other", units=9, rep="R00001"),
    )
    claim = submit_claim(any_db, program, users["rep"], _form(), NOW)
    approve_claim(any_db, program, claim.id or 0, users["manager"], NOW)
    with any_db.session() as s:
        late = s.execute(
            sa.select(LedgerEntry.id)
            .join(Event, Event.id == LedgerEntry.event_id)
            .where(Event.external_id == "late")
        ).scalar_one()
    with any_db.write() as s:
        reverse_entry(s, any_db, late, memo="returned", now=NOW)
    async with client_for(any_db) as c:
        await log_in(c, "rep@example.com")
        page = (await c.get("/")).text
    dashboard = page[page.index('id="dashboard"') :]
    dashboard = dashboard[: dashboard.index("</section>")]
    assert "Streak" in dashboard and "2 months" in dashboard  # October and November
    assert "in a row with at least one sale" in dashboard
    assert "My rank" in dashboard and "Region Jabodetabek" in dashboard
    assert "My company · Toko Maju 0" in dashboard and "League Large" in dashboard
    assert 'href="/boards?period=2026-11&amp;audience=reps&amp;scope=team%3APT000' in dashboard
    activity = re.findall(r'<li>\s*<span class="when">(.*?)</span>', dashboard)
    assert len(activity) == 10  # the newest ten of thirteen entries
    lines = dashboard[dashboard.index('class="activity"') :]
    # Newest first by the date shown: the reversal (made now), the sale it cancelled (the
    # 21st in Jakarta), then October. The claim is dated by its approval.
    assert "Claim approved: 3 × TV-55" in lines
    assert lines.index("Reversal of a sale of 2 × TV-55") < lines.index("Sale of 2 × TV-55")
    assert lines.index("Sale of 2 × TV-55") < lines.index("Oct 1, 2026")
    assert "Nov 21, 2026" in lines and "Nov 22, 2026" in lines  # the sale, the reversal
    assert "+30" in lines and "-20" in lines
    assert "Sale of 9 × TV-55" not in lines  # a colleague's sale is not mine


async def test_a_partner_admin_sees_its_company_on_partner_boards_and_all_its_reps_activity(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    _sales(
        sqlite_db,
        sale("a", units=5, rep="R00000"),
        sale("b", units=8, rep="R00001"),
        sale("c", units=20, partner="PT001", rep="R00100"),
    )
    board = _dashboard(sqlite_db, "owner@example.com")
    assert board.kind == "partner"  # type: ignore[attr-defined]
    places = {p.scope: p for p in board.places}  # type: ignore[attr-defined]
    assert list(places) == [ScopeKind.LEAGUE, ScopeKind.REGION, ScopeKind.EVERYONE]
    assert (places[ScopeKind.EVERYONE].rank, places[ScopeKind.EVERYONE].to_next) == (2, 70)
    assert places[ScopeKind.REGION].rank == 1
    assert "audience=partners" in places[ScopeKind.LEAGUE].href
    assert [a.units for a in board.activity] == [8, 5]  # type: ignore[attr-defined]
    async with client_for(sqlite_db) as c:
        await log_in(c, "owner@example.com")
        page = (await c.get("/")).text
    assert "My company's rank" in page and "Top of this board." in page


async def test_managers_and_admins_have_no_dashboard_and_a_looked_up_card_brings_none(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    _sales(sqlite_db, sale("a", units=5, rep="R00000"))
    assert _dashboard(sqlite_db, "mgr@example.com") is None
    assert _dashboard(sqlite_db, "admin@example.com") is None
    async with client_for(sqlite_db) as c:
        await log_in(c, "mgr@example.com")
        assert 'id="dashboard"' not in (await c.get("/")).text
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep2@example.com")
        looked_up = await c.get("/?participant=R00000", headers={"HX-Request": "true"})
        full = await c.get("/?participant=R00000")
    # The fragment swaps the card only; the page keeps showing my own dashboard.
    assert 'id="participant"' in looked_up.text and 'id="dashboard"' not in looked_up.text
    assert 'id="dashboard"' in full.text and "Budi 0-0" in full.text


async def test_the_dashboard_speaks_indonesian_with_local_dates(sqlite_db: Database) -> None:
    _people(sqlite_db)
    _sales(sqlite_db, _month("2026-10-05"), _month("2026-11-05"))
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")
        page = (await c.get("/", headers={"Accept-Language": "id"})).text
    assert "Rentetan" in page and "2 bulan" in page and "Peringkat saya" in page
    assert "Aktivitas terbaru" in page and "5 Nov 2026" in page and "Penjualan 1 × TV-55" in page
    assert "Streak" not in page and "Recent activity" not in page


async def test_a_reps_live_dashboard_is_pushed_with_its_new_rank(sqlite_db: Database) -> None:
    from tests.factories import make_world

    world = make_world(sqlite_db)
    cookie = log_in_rep(sqlite_db, "R00000")
    with serving(app_for(sqlite_db, PODIUM_ALERT_MIN_SECONDS=3600)) as host:
        await post_sales(host, world.api_key, sale("a", units=5, rep="R00001"))
        async with httpx.AsyncClient(base_url=f"http://{host}") as c:
            page = (await c.get("/", headers=cookie)).text
        assert 'id="dashboard" class="card dashboard">' in page  # in place, not out of band
        async with watching(host, HOME, additional_headers=cookie) as ws:
            first = await next_push(ws)
            assert 'id="dashboard" class="card dashboard" hx-swap-oob="true"' in first
            assert "Not on this board yet" in first
            await post_sales(host, world.api_key, sale("b", units=9, rep="R00000"))
            pushed = ""
            while 'id="dashboard"' not in pushed:
                pushed = await next_push(ws)
    assert "Top of this board." in pushed and "Sale of 9 × TV-55" in pushed
    assert "1 month" in pushed
