"""Challenges over HTTP: a manager of region A can neither create, see nor end a challenge of
region B; the form explains its mistakes; the list shows progress; the API lists and reports."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.apikeys import create_api_key
from app.db import Database
from app.ingest import ingest_events
from app.models import Challenge
from tests.app.conftest import NOW, client_for
from tests.app.test_access import _session_token
from tests.app.test_claims import _people, _program
from tests.app.test_pages import log_in
from tests.factories import sale

pytestmark = pytest.mark.anyio

# NOW is 19:00 in Jakarta: the challenge starts at once and ends at midnight.
FORM = {
    "name": "Jakarta TV night",
    "kind": "target",
    "audience": "rep",
    "metric": "units",
    "regions": "JKT",
    "target": "3",
    "starts": "2026-11-22T19:00",
    "ends": "2026-11-23T00:00",
    "enrolment": "auto",
    "team_score": "total",
    "reward_points": "100",
    "action": "launch",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _token(c: object) -> str:
    return _session_token(c, await c.get("/challenges"))  # type: ignore[arg-type, attr-defined]


async def test_a_manager_of_region_b_cannot_create_see_or_end_a_region_a_challenge(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)  # manager runs JKT, other_manager runs SBY
    async with client_for(sqlite_db) as sby:
        await log_in(sby, "sby@example.com")
        refused = await sby.post("/challenges", data={**FORM, "csrf_token": await _token(sby)})
        assert refused.status_code == 400
        assert "You can only launch challenges in the regions you manage." in refused.text
        # The form offers only the manager's own regions.
        form = await sby.get("/challenges/new")
        assert 'value="SBY"' in form.text and 'value="JKT"' not in form.text
    with sqlite_db.session() as s:
        assert s.exec(select(Challenge)).all() == []

    async with client_for(sqlite_db) as jkt:
        await log_in(jkt, "mgr@example.com")
        created = await jkt.post("/challenges", data={**FORM, "csrf_token": await _token(jkt)})
        assert created.status_code == 303, created.text
        url = created.headers["location"]
        page = await jkt.get(url)
        assert page.status_code == 200 and "Jakarta TV night" in page.text
        assert "End early" in page.text  # the manager's controls
    challenge_id = int(url.rsplit("/", 1)[-1])

    async with client_for(sqlite_db) as sby:
        await log_in(sby, "sby@example.com")
        token = await _token(sby)
        assert "Jakarta TV night" not in (await sby.get("/challenges")).text
        assert (await sby.get(url)).status_code == 404
        for action in ("end", "cancel"):
            answer = await sby.post(
                f"{url}/{action}", data={"csrf_token": token, "reason": "mine now"}
            )
            assert answer.status_code == 404, action
    with sqlite_db.session() as s:
        assert s.get(Challenge, challenge_id).status == "live"  # type: ignore[union-attr]

    async with client_for(sqlite_db) as jkt:
        await log_in(jkt, "mgr@example.com")
        ended = await jkt.post(
            f"{url}/end", data={"csrf_token": await _token(jkt), "reason": "Target met early"}
        )
        assert ended.status_code == 303
    with sqlite_db.session() as s:
        assert s.get(Challenge, challenge_id).status == "settled"  # type: ignore[union-attr]


async def test_the_form_lists_every_mistake_beside_its_field(sqlite_db: Database) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "mgr@example.com")
        bad = {**FORM, "ends": "2026-11-22T18:00", "regions": "", "target": ""}
        answer = await c.post("/challenges", data={**bad, "csrf_token": await _token(c)})
    assert answer.status_code == 400
    for message in (
        "The end must be after the start.",
        "Choose who takes part: at least one region, league or partner.",
        "Set a target above zero for this kind of challenge.",
    ):
        assert message in answer.text
    assert 'value="Jakarta TV night"' in answer.text  # nothing typed is lost


async def test_a_rep_sees_the_challenge_with_progress_and_position_and_indonesian(
    sqlite_db: Database,
) -> None:
    users = _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "mgr@example.com")
        assert (
            await c.post("/challenges", data={**FORM, "csrf_token": await _token(c)})
        ).status_code == 303
    ingest_events(
        sqlite_db,
        _program(sqlite_db),
        "erp",
        [sale("a1", units=2, occurred_at="2026-11-22T19:00:00+07:00")],
        NOW,
    )
    async with client_for(sqlite_db) as c:
        await log_in(c, users["rep"].email)
        listing = await c.get("/challenges")
        assert "Jakarta TV night" in listing.text
        assert "You: 2" in listing.text and "position #1" in listing.text
        assert 'aria-valuenow="2"' in listing.text
        indonesian = await c.get("/challenges", headers={"Accept-Language": "id"})
        assert "Tantangan" in indonesian.text
        href = re.search(r'href="(/challenges/\d+)"', listing.text)
        assert href, listing.text
        page = await c.get(href.group(1))  # the challenge's own page, with the rep's progress
        assert page.status_code == 200, page.text
        assert "You: 2" in page.text and 'class="fill-' in page.text


async def test_the_api_lists_challenges_and_a_participants_progress(sqlite_db: Database) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "mgr@example.com")
        await c.post("/challenges", data={**FORM, "csrf_token": await _token(c)})
    ingest_events(
        sqlite_db,
        _program(sqlite_db),
        "erp",
        [sale("a1", units=4, occurred_at="2026-11-22T19:02:00+07:00")],
        NOW,
    )
    with sqlite_db.write() as s:
        key = create_api_key(s, _program(sqlite_db), "crm")
    headers = {"Authorization": f"Bearer {key}"}
    async with client_for(sqlite_db) as c:
        listed = (await c.get("/api/v1/challenges?status=live", headers=headers)).json()
        assert [ch["name"] for ch in listed["challenges"]] == ["Jakarta TV night"]
        challenge_id = listed["challenges"][0]["id"]
        mine = await c.get(f"/api/v1/challenges/{challenge_id}/progress/R00000", headers=headers)
        assert mine.status_code == 200
        assert mine.json()["value"] == 4 and mine.json()["rank"] == 1 and mine.json()["reached"]
        other_region = await c.get(
            f"/api/v1/challenges/{challenge_id}/progress/R00100", headers=headers
        )
        assert other_region.status_code == 404
        assert (await c.get("/api/v1/challenges?status=nope", headers=headers)).status_code == 400
        assert (await c.get("/api/v1/challenges")).status_code == 401
        paths = (await c.get("/api/v1/openapi.json")).json()["paths"]
        assert "/api/v1/challenges" in paths
        assert "/api/v1/challenges/{challenge_id}/progress/{code}" in paths
