"""Leaderboard pages, TV mode and the leaderboard API, through the ASGI app."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.accounts import Role, create_user
from app.db import Database
from app.models import Partner, Program, Rep, Target
from tests.app.conftest import client_for
from tests.app.test_pages import PASSWORD, csrf_of, log_in
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio
HOSTILE = "<img src=x onerror=alert(1)>"
RULE = "Equal values share a rank (1, 2, 2, 4); within a tie, whoever reached the value first"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send(c: httpx.AsyncClient, key: str, *events: dict[str, Any]) -> None:
    r = await c.post("/api/v1/events", json={"events": list(events)}, headers=auth(key))
    assert r.status_code == 200, r.text


def rep_sale(id: str, rep: str, units: int, when: str = "2026-11-20T10:00:00+07:00") -> dict:
    """A sale by ``rep`` (codes look like R{partner:03d}{rep:02d}) for its own partner."""
    return sale(id, units=units, rep=rep, partner=f"PT{rep[1:4]}", occurred_at=when)


def add_user(db: Database, email: str, role: Role, rep_code: str | None = None) -> None:
    with db.write() as s:
        partner_id = rep_id = None
        if rep_code is not None:
            rep = s.execute(sa.select(Rep).where(Rep.code == rep_code)).scalar_one()
            partner_id, rep_id = rep.partner_id, rep.id
        create_user(s, email, email.split("@")[0], PASSWORD, role, partner_id, rep_id)


def rows_of(html: str) -> list[tuple[str, str]]:
    """(rank, name) of each board row, in order."""
    return re.findall(
        r'<span class="rank">(\d+)(?:<span class="tie"[^>]*>=</span>)?</span>\s*'
        r'<span class="name">\s*(?:<a [^>]*>|<span>)([^<]*)<',
        html,
    )


async def test_board_page_renders_every_scope_and_metric_with_the_tie_rule(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    with sqlite_db.write() as s:
        rep = s.execute(sa.select(Rep).where(Rep.code == "R00000")).scalar_one()
        s.add(
            Target(
                program_id=world.program.id,
                period_key="2026-11",
                kind="rep",
                participant_id=rep.id,
                revenue_minor=1_600_000_00,
            )
        )
    async with client_for(sqlite_db) as c:
        await send(
            c,
            world.api_key,
            rep_sale("oct-1", "R00000", 2, "2026-10-10T10:00:00+07:00"),
            rep_sale("nov-1", "R00000", 3),
            rep_sale("nov-1b", "R00000", 1),
            rep_sale("nov-2", "R00101", 1),
        )
        for scope in ("everyone", "region:JKT", "region:SBY", "league:L", "team:PT000"):
            for metric in ("points", "units", "revenue", "target_pct", "growth_pct"):
                r = await c.get(f"/boards?scope={scope}&metric={metric}&period=2026-11")
                assert r.status_code == 200, (scope, metric, r.text)
                assert RULE in r.text
        points = await c.get("/boards")
        revenue = await c.get("/boards?metric=revenue")
        target = await c.get("/boards?metric=target_pct")
        growth = await c.get("/boards?metric=growth_pct")
        partners = await c.get("/boards?audience=partners&period=all")
    assert rows_of(points.text) == [("1", "Budi 0-0"), ("2", "Budi 1-1")]
    assert "<strong>2</strong> reps on this board" in points.text
    assert "2,000,000" in revenue.text  # two sales of 1,000,000, in the program's currency
    # Rp 2,000,000 sold against a Rp 1,600,000 target
    assert "125.0 %" in target.text
    assert "Not ranked (no target for 2026-11): Budi 1-1." in target.text
    # Rp 2,000,000 over a Rp 1,000,000 baseline: +100 %
    assert "100.0 %" in growth.text
    assert "Not ranked (no sales in 2026-10 to grow from): Budi 1-1." in growth.text
    assert rows_of(partners.text) == [("1", "Toko Maju 0"), ("2", "Toko Maju 1")]


async def test_a_rep_outside_the_top_10_sees_their_row_highlighted_and_the_window_around(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=4, reps_per_partner=5)
    add_user(sqlite_db, "rep@example.com", Role.REP, rep_code="R00000")
    codes = [f"R{p:03d}{r:02d}" for p in range(4) for r in range(5)]
    async with client_for(sqlite_db) as c:
        # R00000 sells least: 20 reps, it comes last.
        events = [rep_sale(f"e{i}", code, 100 - i) for i, code in enumerate(codes[1:])]
        await send(c, world.api_key, *events, rep_sale("mine", "R00000", 1))
        await log_in(c, "rep@example.com")
        page = await c.get("/boards")
        team = await c.get("/boards?scope=team:PT000")
    top, _, window = page.text.partition("Around you")
    assert window, "the window around me is missing"
    assert len(rows_of(top)) == 10
    assert [rank for rank, _ in rows_of(window)] == ["15", "16", "17", "18", "19", "20"]
    assert re.search(r'<li class="you">\s*<span class="rank">20</span>', window)
    assert '<strong class="you-tag">You</strong>' in window
    # On my team's board (5 reps) I am in the top 10: highlighted there, no window.
    assert "Around you" not in team.text and '<li class="you">' in team.text
    assert "My team · Toko Maju 0" in page.text


async def test_htmx_gets_only_the_board_block_and_the_page_varies_on_it(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        await send(c, world.api_key, rep_sale("e1", "R00000", 2))
        fragment = await c.get("/boards?metric=units", headers={"HX-Request": "true"})
        restore = await c.get(
            "/boards",
            headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
        )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith(
        '<div id="board-area"'
    )
    assert 'hx-get="/boards"' in fragment.text and 'hx-push-url="true"' in fragment.text
    assert "Budi 0-0" in fragment.text and "Reps · Units sold" in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" in restore.text  # a history miss needs the whole page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("scope=region:NOPE", "There is no region &#39;NOPE&#39;; regions are JKT, SBY."),
        ("scope=team:PT000&audience=partners", "A team board ranks the reps of one partner"),
        ("metric=growth_pct&period=all", "Growth % compares one period with a baseline period"),
        ("metric=target_pct&period=all", "% of target compares one period with its target"),
        ("metric=speed", "Unknown metric &#39;speed&#39;"),
        ("audience=dogs", "Unknown audience &#39;dogs&#39;"),
        ("period=2031-01", "Period 2031-01 is not part of this program so far"),
        ("period=yesterday", "&#39;YESTERDAY&#39; is not a month period"),
        ("scope=galaxy:far", "Unknown scope &#39;galaxy:far&#39;"),
    ],
)
async def test_bad_board_parameters_answer_400_with_a_message_on_the_page(
    sqlite_db: Database, query: str, message: str
) -> None:
    make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        page = await c.get(f"/boards?{query}")
        fragment = await c.get(f"/boards?{query}", headers={"HX-Request": "true"})
    assert page.status_code == 400
    assert message in page.text and "This board cannot be shown" in page.text
    assert "<form" in page.text  # the filters stay, to fix the choice
    # htmx does not swap a 4xx: the fragment carries the message with 200 so it is seen.
    assert fragment.status_code == 200 and message in fragment.text


async def test_participant_page_shows_standings_and_a_rank_history_chart(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    async with client_for(sqlite_db) as c:
        await send(
            c,
            world.api_key,
            # September: R00000 first; October: third; November: second.
            rep_sale("s1", "R00000", 9, "2026-09-10T10:00:00+07:00"),
            rep_sale("s2", "R00001", 1, "2026-09-10T10:00:00+07:00"),
            rep_sale("o1", "R00000", 1, "2026-10-10T10:00:00+07:00"),
            rep_sale("o2", "R00001", 5, "2026-10-10T10:00:00+07:00"),
            rep_sale("o3", "R00100", 4, "2026-10-10T10:00:00+07:00"),
            rep_sale("n1", "R00000", 3),
            rep_sale("n2", "R00101", 6),
        )
        page = await c.get("/participants/r00000")  # codes are found in any case
        partner = await c.get("/participants/PT001")
        missing = await c.get("/participants/NOPE")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Budi 0-0</h1>" in html and "Toko Maju 0" in html
    assert "Jabodetabek" in html and "Large" in html
    for board in ("Everyone", "Region Jabodetabek", "League Large", "Team Toko Maju 0"):
        assert f">{board}</a>" in html
    assert (
        'href="/boards?period=2026-11&amp;audience=reps&amp;scope=team:PT000&amp;metric=points"'
        in html
    )
    chart = html[html.index("<svg") : html.index("</svg>")]
    assert "<script" not in chart and "style=" not in chart
    polyline = re.search(r'<polyline class="line" points="([^"]+)"', chart)
    assert polyline is not None
    points = [tuple(map(float, p.split(","))) for p in polyline.group(1).split()]
    assert len(points) == 3  # September, October, November: one unbroken line
    ys = [y for _, y in points]
    assert ys[0] < ys[2] < ys[1]  # rank 1 at the top, rank 3 lowest, rank 2 between
    assert "2026-09: rank 1 of 2" in chart and "2026-10: rank 3 of 3" in chart
    table = html[html.index('class="standings history"') :]
    assert re.search(r"2026-10</a></th>\s*<td>3 <span", table)
    assert re.search(r"2026-08</a></th>\s*<td class=\"muted\">not ranked", table)
    assert partner.status_code == 200 and "Partner" in partner.text
    assert "Team " not in partner.text  # partners have no team board
    assert missing.status_code == 404 and "No rep or partner with code" in missing.text


async def test_past_periods_list_the_top_3_of_each_and_link_to_their_board(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    async with client_for(sqlite_db) as c:
        await send(
            c,
            world.api_key,
            *[
                rep_sale(f"o{i}", code, 10 - i, "2026-10-10T10:00:00+07:00")
                for i, code in enumerate(["R00000", "R00001", "R00100", "R00101"])
            ],
        )
        page = await c.get("/boards/history")
    october = page.text[page.text.index('href="/boards?period=2026-10') :]
    october = october[: october.index("</section>")]
    assert rows_of(october) == [("1", "Budi 0-0"), ("2", "Budi 0-1"), ("3", "Budi 1-0")]
    assert "2026-11 ·" not in page.text  # the running period is not a past one


async def test_tv_link_is_created_viewed_without_login_revoked_and_then_gone(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    add_user(sqlite_db, "admin@example.com", Role.PROGRAM_ADMIN)
    async with client_for(sqlite_db) as admin:
        await send(admin, world.api_key, rep_sale("e1", "R00000", 4))
        await log_in(admin, "admin@example.com")
        page = await admin.get("/admin/tv")
        assert 'href="/admin/tv"' in page.text  # in the admin nav
        created = await admin.post(
            "/admin/tv",
            data={
                "csrf_token": csrf_of(page),
                "label": "Lobby screen",
                "audience": "reps",
                "scope": "region:JKT",
                "metric": "units",
            },
        )
        assert created.status_code == 201, created.text
        url = re.search(r'id="created-url" class="url" value="([^"]+)"', created.text)
        assert url is not None
        path = httpx.URL(url.group(1)).path
        assert re.fullmatch(r"/tv/[A-Za-z0-9_-]{43}", path)
        listed = await admin.get("/admin/tv")
        assert path.split("/")[-1] not in listed.text  # the token is shown only once

        async with client_for(sqlite_db) as tv:
            screen = await tv.get(path)
            poll = await tv.get(path, headers={"HX-Request": "true"})
            assert screen.status_code == 200
            assert (
                "Lobby screen" in screen.text
                and "Reps · Region Jabodetabek · Units sold" in screen.text
            )
            assert "Budi 0-0" in screen.text and RULE in screen.text
            assert 'hx-trigger="every 10s"' in screen.text and f'hx-get="{path}"' in screen.text
            assert "<nav>" not in screen.text
            assert "<html" not in poll.text and 'hx-trigger="every 10s"' in poll.text

            link_id = re.search(r'action="/admin/tv/(\d+)/revoke"', listed.text)
            assert link_id is not None
            revoked = await admin.post(
                f"/admin/tv/{link_id.group(1)}/revoke", data={"csrf_token": csrf_of(listed)}
            )
            assert revoked.status_code == 303

            gone = await tv.get(path)
            gone_poll = await tv.get(path, headers={"HX-Request": "true"})
            unknown = await tv.get("/tv/not-a-token")
        assert gone.status_code == 404 and "Budi 0-0" not in gone.text
        assert "not active" in gone_poll.text and "every 10s" not in gone_poll.text
        assert unknown.status_code == 404
        assert "Revoked" in (await admin.get("/admin/tv")).text


async def test_only_program_admins_manage_tv_links(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    add_user(sqlite_db, "rep@example.com", Role.REP, rep_code="R00000")
    async with client_for(sqlite_db) as anonymous:
        assert (await anonymous.get("/admin/tv")).status_code == 303
    async with client_for(sqlite_db) as c:
        await log_in(c, "rep@example.com")
        page = await c.get("/admin/tv")
        token = csrf_of(await c.get("/boards"))
        post = await c.post(
            "/admin/tv",
            data={"csrf_token": token, "label": "x", "audience": "reps", "scope": "everyone"},
        )
        revoke = await c.post("/admin/tv/1/revoke", data={"csrf_token": token})
        boards = await c.get("/boards")
    assert page.status_code == post.status_code == revoke.status_code == 403
    assert "Only program admins" in page.text
    assert 'href="/admin/tv"' not in boards.text and 'href="/boards"' in boards.text


async def test_tv_link_form_refuses_a_team_board_of_partners_and_an_empty_label(
    sqlite_db: Database,
) -> None:
    make_world(sqlite_db)
    add_user(sqlite_db, "admin@example.com", Role.PROGRAM_ADMIN)
    async with client_for(sqlite_db) as c:
        await log_in(c, "admin@example.com")
        token = csrf_of(await c.get("/admin/tv"))
        base = {"csrf_token": token, "metric": "points", "scope": "everyone"}
        no_label = await c.post("/admin/tv", data={**base, "label": " ", "audience": "reps"})
        bad = await c.post(
            "/admin/tv",
            data={**base, "label": "Lobby", "audience": "partners", "scope": "team:PT000"},
        )
    assert no_label.status_code == bad.status_code == 400
    assert "Give the link a label" in no_label.text
    assert "A team board ranks the reps of one partner" in bad.text


async def test_api_leaderboard_ranks_ties_first_to_reach_first_and_returns_the_window(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    async with client_for(sqlite_db) as c:
        # R00100 reaches 30 points before R00001 does: both rank 2, R00100 listed first.
        await send(c, world.api_key, rep_sale("a", "R00000", 5))
        await send(c, world.api_key, rep_sale("b", "R00100", 3))
        await send(c, world.api_key, rep_sale("c", "R00001", 3))
        await send(c, world.api_key, rep_sale("d", "R00101", 1))
        r = await c.get(
            "/api/v1/leaderboards/P1/everyone/points",
            params={"around": "r00001", "period": "2026-11"},
            headers=auth(world.api_key),
        )
        limited = await c.get(
            "/api/v1/leaderboards/p1/region:JKT/units?limit=1", headers=auth(world.api_key)
        )
        partners = await c.get(
            "/api/v1/leaderboards/P1/everyone/revenue?audience=partners&period=all",
            headers=auth(world.api_key),
        )
        errors = [
            await c.get(url, headers=auth(world.api_key))
            for url in (
                "/api/v1/leaderboards/P1/everyone/points?limit=101",
                "/api/v1/leaderboards/P1/everyone/points?limit=0",
                "/api/v1/leaderboards/P1/region:XX/points",
                "/api/v1/leaderboards/P1/everyone/growth_pct?period=all",
                "/api/v1/leaderboards/P1/everyone/points?around=PT000",
                "/api/v1/leaderboards/P1/everyone/points?around=NOPE",
                "/api/v1/leaderboards/OTHER/everyone/points",
            )
        ]
        unauthenticated = await c.get("/api/v1/leaderboards/P1/everyone/points")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rule"].startswith(RULE) and body["size"] == 4
    assert (body["program"], body["period"], body["audience"]) == ("P1", "2026-11", "reps")
    assert (body["scope"], body["metric"], body["value_unit"]) == ("everyone", "points", "points")
    assert [(x["rank"], x["position"], x["tied"], x["code"], x["value"]) for x in body["rows"]] == [
        (1, 1, False, "R00000", 50),
        (2, 2, True, "R00100", 30),
        (2, 3, True, "R00001", 30),
        (4, 4, False, "R00101", 10),
    ]
    assert body["rows"][1]["name"] == "Budi 1-0"
    assert body["around"]["code"] == "R00001"
    assert body["around"]["standing"]["rank"] == 2 and body["around"]["standing"]["position"] == 3
    assert [x["code"] for x in body["around"]["rows"]] == ["R00000", "R00100", "R00001", "R00101"]
    assert [x["code"] for x in limited.json()["rows"]] == ["R00000"]
    assert limited.json()["size"] == 2 and limited.json()["scope"] == "region:JKT"
    assert partners.json()["currency"] == "IDR"
    assert [x["value"] for x in partners.json()["rows"]] == [2_000_000_00, 2_000_000_00]
    assert [e.status_code for e in errors] == [400, 400, 400, 400, 400, 404, 403]
    assert "no region 'XX'" in errors[2].json()["error"]
    assert "PT000 is a partner" in errors[4].json()["error"]
    assert unauthenticated.status_code == 401


async def test_anonymous_participants_show_as_anonymous_and_link_nowhere(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db, partners=2, reps_per_partner=2)
    with sqlite_db.write() as s:
        s.execute(sa.update(Rep).where(Rep.code == "R00100").values(anonymous=True))
        s.execute(sa.update(Partner).where(Partner.code == "PT001").values(anonymous=True))
    add_user(sqlite_db, "admin@example.com", Role.PROGRAM_ADMIN)
    async with client_for(sqlite_db) as c:
        await send(c, world.api_key, rep_sale("a", "R00100", 5), rep_sale("b", "R00000", 1))
        reps = await c.get("/boards")
        partners = await c.get("/boards?audience=partners")
        history = await c.get("/participants/R00100")
        api = await c.get("/api/v1/leaderboards/P1/everyone/points", headers=auth(world.api_key))
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/tv")
        created = await c.post(
            "/admin/tv",
            data={"csrf_token": csrf_of(page), "label": "TV", "audience": "reps"},
        )
        path = httpx.URL(re.findall(r'value="(http[^"]+/tv/[^"]+)"', created.text)[0]).path
        tv = await c.get(path)
    assert rows_of(reps.text)[0] == ("1", "Anonymous")
    assert "Budi 1-0" not in reps.text and 'href="/participants/R00100"' not in reps.text
    assert "Toko Maju 1" not in reps.text  # the anonymous partner, as a rep's affiliation
    assert rows_of(partners.text)[0] == ("1", "Anonymous")
    assert "Budi 1-0" not in history.text and "<h1>Anonymous</h1>" in history.text
    assert api.json()["rows"][0]["name"] == "Anonymous"
    assert "Anonymous" in tv.text and "Budi 1-0" not in tv.text


async def test_hostile_names_are_escaped_on_boards_tv_and_participant_pages(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    with sqlite_db.write() as s:
        s.execute(sa.update(Rep).where(Rep.code == "R00000").values(name=HOSTILE))
        s.execute(sa.update(Partner).where(Partner.code == "PT000").values(name=HOSTILE))
        program = s.execute(sa.select(Program)).scalar_one()
        program.name = HOSTILE
    add_user(sqlite_db, "admin@example.com", Role.PROGRAM_ADMIN)
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    async with client_for(sqlite_db) as c:
        await send(c, world.api_key, rep_sale("a", "R00000", 5))
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/tv")
        created = await c.post(
            "/admin/tv",
            data={
                "csrf_token": csrf_of(page),
                "label": HOSTILE,
                "audience": "reps",
                "scope": "team:PT000",
                "metric": "points",
            },
        )
        path = httpx.URL(re.findall(r'value="(http[^"]+/tv/[^"]+)"', created.text)[0]).path
        pages = [
            await c.get("/boards"),
            await c.get("/boards?scope=team:PT000"),
            await c.get("/boards?audience=partners"),
            await c.get("/boards/history"),
            await c.get("/participants/R00000"),
            await c.get("/participants/PT000"),
            await c.get(path),
            await c.get("/admin/tv"),
            created,
        ]
    for shown in pages:
        assert shown.status_code in (200, 201), shown.url
        assert HOSTILE not in shown.text, shown.url
    assert all(escaped in p.text for p in pages if "history" not in str(p.url))
