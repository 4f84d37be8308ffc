from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from app.db import Database
from app.models import Event, LedgerEntry, PeriodTotal, Rep
from tests.app.conftest import client_for
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_events_need_a_valid_api_key(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        missing = await c.post("/api/v1/events", json={"events": [sale("e1")]})
        wrong = await c.post(
            "/api/v1/events", json={"events": [sale("e1")]}, headers=auth("pdm_nope")
        )
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["error"]


async def test_good_events_are_kept_and_bad_ones_reported_by_index(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        r = await c.post(
            "/api/v1/events",
            headers=auth(world.api_key),
            json={"events": [sale("e1", units=2), sale("e2", sku="NOPE"), sale("e1", units=2)]},
        )
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert body["rejected"] == [{"index": 1, "error": "SKU 'NOPE' is not in the product catalog"}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON (line 1, column 2)"),
        (b'{"evnts": []}', 422, 'like {"events"'),
        (b'{"events": []}', 422, "events is empty"),
        (
            json.dumps({"events": [sale(f"e{i}") for i in range(1001)]}).encode(),
            413,
            "at most 1000",
        ),
        (b'{"events": [' + b'"x",' * 800_000 + b'"x"]}', 413, "larger than"),
    ],
)
async def test_malformed_requests_get_a_clear_4xx_and_write_nothing(
    sqlite_db: Database, body: bytes, status: int, message: str
) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        r = await c.post(
            "/api/v1/events",
            content=body,
            headers={**auth(world.api_key), "Content-Type": "application/json"},
        )
    assert r.status_code == status
    assert message in r.json()["error"]
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == 0


async def test_all_rejected_answers_422(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        r = await c.post(
            "/api/v1/events",
            headers=auth(world.api_key),
            json={"events": [sale("e1", occurred_at="yesterday")]},
        )
    assert r.status_code == 422
    assert r.json()["rejected"][0]["error"].startswith("occurred_at")


async def test_participant_shows_balance_period_totals_and_tier_gap(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    async with client_for(sqlite_db) as c:
        await c.post(
            "/api/v1/events",
            headers=auth(world.api_key),
            json={
                "events": [
                    sale("e1", units=40, amount=2_500_000),
                    sale("e2", units=5, occurred_at="2026-10-31T23:59:59+07:00"),
                ]
            },
        )
        r = await c.get("/api/v1/participants/r00000", headers=auth(world.api_key))
        missing = await c.get("/api/v1/participants/NOPE", headers=auth(world.api_key))
    assert r.status_code == 200
    p = r.json()
    assert p["balance"] == 450 and p["all_time_points"] == 450
    assert p["period"]["key"] == "2026-11" and p["period"]["points"] == 400
    assert p["period"]["revenue"] == {"amount": "2500000.00", "currency": "IDR"}
    assert p["tier"] == {
        "metric": "units",
        "value": 40,
        "current": None,
        "next": "Bronze",
        "missing": 60,
    }
    assert missing.status_code == 404


async def test_openapi_document_is_valid_and_describes_both_endpoints(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    validate(doc)
    assert {"/api/v1/events", "/api/v1/participants/{code}"} <= set(doc["paths"])
    assert "occurred_at" in doc["components"]["schemas"]["Event"]["properties"]


async def _hammer(db: Database, key: str, events: list[dict], clients: int = 4) -> None:
    """Send every event 3 times, shuffled, from ``clients`` concurrent API clients."""
    sends = [e for e in events for _ in range(3)]
    random.Random(7).shuffle(sends)
    batches = [sends[i : i + 250] for i in range(0, len(sends), 250)]

    async def worker(mine: list[list[dict]]) -> None:
        async with client_for(db) as c:
            for batch in mine:
                r = await c.post(
                    "/api/v1/events", json={"events": batch}, headers=auth(key), timeout=120
                )
                assert r.status_code == 200, r.text

    await asyncio.gather(*(worker(batches[i::clients]) for i in range(clients)))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_10k_events_sent_3_times_by_4_clients_are_counted_exactly_once(
    request: pytest.FixtureRequest, backend: str
) -> None:
    db: Database = request.getfixturevalue(f"{backend}_db")
    world = make_world(
        db,
        partners=20,
        reps_per_partner=5,
        scoring={"points_per_unit": "3", "activity_points": {"training": 7}},
    )
    rng = random.Random(42)
    events = []
    expected: dict[str, int] = {}
    for i in range(10_000):
        p = rng.randrange(20)
        rep = f"R{p:03d}{rng.randrange(5):02d}"
        if i % 10 == 0:
            ev = {
                "id": f"t{i}",
                "type": "training",
                "partner": f"PT{p:03d}",
                "rep": rep,
                "occurred_at": "2026-11-03T09:00:00+07:00",
            }
            points = 7
        else:
            units = rng.randint(1, 20)
            ev = sale(
                f"s{i}",
                units=units,
                partner=f"PT{p:03d}",
                rep=rep,
                invoice=f"INV{i}",
                occurred_at=f"2026-{rng.choice(['09', '10', '11'])}-{rng.randint(1, 20):02d}T10:00:00+07:00",
            )
            points = 3 * units
        events.append(ev)
        expected[rep] = expected.get(rep, 0) + points

    await _hammer(db, world.api_key, events)

    with db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar() == 10_000
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == 10_000
        balances = dict(
            s.execute(
                sa.select(Rep.code, sa.func.sum(LedgerEntry.points))
                .join(LedgerEntry, LedgerEntry.rep_id == Rep.id)
                .group_by(Rep.code)
            ).all()
        )
        totals = dict(
            s.execute(
                sa.select(Rep.code, PeriodTotal.points)
                .join(Rep, Rep.id == PeriodTotal.participant_id)
                .where(PeriodTotal.kind == "rep", PeriodTotal.period_key == "all")
            ).all()
        )
    assert balances == expected
    assert totals == expected
