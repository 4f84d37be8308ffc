"""Badges in the app: evaluation after writes (exactly once under re-evaluation, replays and
concurrency), period close, challenge wins, and the pages."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app import models
from app.badges import (
    evaluate_new_entries,
    evaluate_period_close,
    save_definition,
    seed_demo_badges,
)
from app.db import Database
from app.imports import import_csv
from app.ingest import ingest_events
from app.models import BadgeAward, BadgeWatermark, Partner, Program, Rep
from app.models import BadgeDefinition as BadgeRow
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _people
from tests.app.test_pages import log_in
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio

DEFINITIONS: list[dict[str, Any]] = [
    {"code": "first-sale", "name": "First Sale", "criterion": {"kind": "first_event"}},
    {
        "code": "units",
        "name": "Unit Mover",
        "levels": [{"name": "bronze", "threshold": 5}, {"name": "silver", "threshold": 10}],
        "criterion": {"kind": "threshold", "measure": "units", "window": "all"},
    },
    {
        "code": "big-month",
        "name": "Big Month",
        "repeat": "period",
        "criterion": {"kind": "threshold", "measure": "units", "window": "period", "threshold": 4},
    },
    {
        "code": "streak",
        "name": "On Fire",
        "criterion": {"kind": "streak", "measure": "sales", "minimum": 1, "threshold": 2},
    },
    {"code": "learner", "name": "Learner", "criterion": {"kind": "training", "threshold": 1}},
    {
        "code": "top",
        "name": "Top of the Month",
        "repeat": "period",
        "levels": [{"name": "bronze", "threshold": 2}, {"name": "gold", "threshold": 1}],
        "criterion": {"kind": "top_n", "board_metric": "units"},
    },
    {
        "code": "partner-first",
        "name": "Partner First Sale",
        "audience": "partner",
        "criterion": {"kind": "first_event"},
    },
    {
        "code": "champion",
        "name": "Champion",
        "criterion": {"kind": "challenge_won", "threshold": 1},
    },
    # Given only as a challenge's reward (its own criterion is out of reach).
    {
        "code": "spif-winner",
        "name": "SPIF Winner",
        "criterion": {"kind": "training", "threshold": 999},
    },
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _setup(db: Database) -> Program:
    make_world(db)
    with db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
    for data in DEFINITIONS:
        save_definition(db, program, data, NOW)
    return program


def _history() -> list[dict[str, Any]]:
    """R00000: October 3 units, November 3 units (a 2-month streak, 6 units in all); R00001:
    October 6 units; R00100 (partner PT001): a training only."""
    return [
        sale("o1", units=3, occurred_at="2026-10-05T10:00:00+07:00"),
        sale("o2", units=6, rep="R00001", occurred_at="2026-10-06T10:00:00+07:00"),
        sale("n1", units=3, occurred_at="2026-11-20T10:00:00+07:00"),
        {
            "id": "t1",
            "type": "training",
            "partner": "PT001",
            "rep": "R00100",
            "occurred_at": "2026-11-02T09:00:00+07:00",
        },
    ]


def _awards(db: Database) -> list[tuple[str, str, str, int, str]]:
    with db.session() as s:
        rows = s.execute(
            sa.select(
                BadgeRow.code,
                BadgeAward.level,
                BadgeAward.kind,
                BadgeAward.participant_id,
                BadgeAward.period_key,
            ).join(BadgeRow, col(BadgeRow.id) == col(BadgeAward.badge_id))
        ).all()
    return sorted(tuple(r) for r in rows)  # type: ignore[misc]


def _ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        reps = {r.code: r.id for r in s.execute(sa.select(Rep)).scalars()}
        partners = {p.code: p.id for p in s.execute(sa.select(Partner)).scalars()}
    return {**reps, **partners}  # type: ignore[dict-item]


def test_entries_award_each_kind_once_however_often_they_are_evaluated_or_replayed(
    any_db: Database,
) -> None:
    program = _setup(any_db)
    assert ingest_events(any_db, program, "erp", _history(), NOW).accepted == 4
    assert evaluate_new_entries(any_db, program, NOW) > 0
    ids = _ids(any_db)
    r0, r1, r100, pt0, pt1 = ids["R00000"], ids["R00001"], ids["R00100"], ids["PT000"], ids["PT001"]
    expected = sorted(
        [
            ("first-sale", "", "rep", r0, "all"),
            ("first-sale", "", "rep", r1, "all"),
            ("units", "bronze", "rep", r0, "all"),
            ("units", "bronze", "rep", r1, "all"),
            ("big-month", "", "rep", r1, "2026-10"),
            ("streak", "", "rep", r0, "all"),
            ("learner", "", "rep", r100, "all"),
            ("partner-first", "", "partner", pt0, "all"),
        ]
    )
    assert _awards(any_db) == expected
    assert pt1 not in {a[3] for a in _awards(any_db) if a[2] == "partner"}  # a training, no sale

    # Replays: the same events again are duplicates, and evaluation finds nothing new.
    replay = ingest_events(any_db, program, "erp", _history(), NOW)
    assert replay.accepted == 0 and replay.duplicates == 4
    assert evaluate_new_entries(any_db, program, NOW) == 0
    # Re-evaluation of everything from scratch (watermark lost), four times at once.
    with any_db.write() as s:
        s.execute(sa.delete(BadgeWatermark))
    threads = [
        threading.Thread(target=evaluate_new_entries, args=(any_db, program, NOW)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _awards(any_db) == expected

    # One more sale crosses silver and a second November threshold: only those are added.
    ingest_events(
        any_db,
        program,
        "erp",
        [sale("n2", units=4, occurred_at="2026-11-21T10:00:00+07:00")],
        NOW,
    )
    evaluate_new_entries(any_db, program, NOW)
    added = set(_awards(any_db)) - set(expected)
    assert added == {("units", "silver", "rep", r0, "all"), ("big-month", "", "rep", r0, "2026-11")}


def test_the_database_refuses_a_second_award_with_the_same_key(any_db: Database) -> None:
    program = _setup(any_db)
    ingest_events(any_db, program, "erp", [sale("o1", units=1)], NOW)
    evaluate_new_entries(any_db, program, NOW)
    with any_db.session() as s:
        award = s.execute(sa.select(BadgeAward)).scalars().first()
        assert award is not None
        twin = {c: getattr(award, c) for c in type(award).model_fields if c not in ("id", "uid")}
    with pytest.raises(sa.exc.IntegrityError), any_db.write() as s:
        s.add(BadgeAward(**twin, uid="another-uid"))


def test_period_close_awards_top_n_from_the_final_ranking_once(any_db: Database) -> None:
    program = _setup(any_db)
    ingest_events(any_db, program, "erp", _history(), NOW)
    ids = _ids(any_db)
    with pytest.raises(ValueError, match="has not ended"):
        evaluate_period_close(any_db, program, "2026-11", NOW)
    assert evaluate_period_close(any_db, program, "2026-10", NOW) == 2
    top = [a for a in _awards(any_db) if a[0] == "top"]
    assert top == sorted(
        [
            ("top", "gold", "rep", ids["R00001"], "2026-10"),
            ("top", "bronze", "rep", ids["R00000"], "2026-10"),
        ]
    )
    assert evaluate_period_close(any_db, program, "2026-10", NOW) == 0  # a re-close
    with any_db.session() as s:
        places = dict(
            s.execute(
                sa.select(BadgeAward.participant_id, BadgeAward.place).where(
                    col(BadgeAward.source) == "period_close"
                )
            ).all()
        )
    assert places == {ids["R00001"]: 1, ids["R00000"]: 2}


def test_a_won_challenge_counts_and_its_reward_badge_goes_to_the_winners(
    sqlite_db: Database,
) -> None:
    program = _setup(sqlite_db)
    ids = _ids(sqlite_db)
    settled = datetime(2026, 11, 15, 5, tzinfo=UTC)
    with sqlite_db.write() as s:
        challenge = models.Challenge(
            program_id=program.id,
            name="November TV race",
            kind="top",
            audience="rep",
            metric="units",
            starts_at=datetime(2026, 11, 1, tzinfo=UTC),
            ends_at=datetime(2026, 11, 14, tzinfo=UTC),
            reward_badge="spif-winner",
            status="settled",
        )
        s.add(challenge)
        s.flush()
        for rep, won, place in (("R00000", True, 1), ("R00001", False, 2)):
            s.add(
                models.ChallengeResult(
                    challenge_id=challenge.id,
                    kind="rep",
                    participant_id=ids[rep],
                    place=place,
                    won=won,
                    settled_at=settled,
                )
            )
    evaluate_new_entries(sqlite_db, program, NOW)
    assert _awards(sqlite_db) == sorted(
        [
            ("champion", "", "rep", ids["R00000"], "all"),
            ("spif-winner", "", "rep", ids["R00000"], f"challenge-{challenge.id}"),
        ]
    )
    evaluate_new_entries(sqlite_db, program, NOW)
    assert len(_awards(sqlite_db)) == 2


def test_a_csv_import_evaluates_badges_after_its_commits(sqlite_db: Database) -> None:
    program = _setup(sqlite_db)
    csv = (
        "id,type,partner,rep,sku,units,amount,occurred_at,invoice\n"
        "c1,sale,PT000,R00000,TV-55,5,5000000,2026-11-20T10:00:00+07:00,INV-C1\n"
    )
    report = import_csv(sqlite_db, program, io.StringIO(csv), NOW)
    assert report.accepted == 1
    assert {a[0] for a in _awards(sqlite_db)} >= {"first-sale", "units", "big-month"}


async def test_sales_posted_to_the_api_award_badges_after_the_answer(
    sqlite_db: Database, tmp_path: Path
) -> None:
    make_world(sqlite_db)
    with sqlite_db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
    save_definition(sqlite_db, program, DEFINITIONS[0], NOW)
    key = _api_key(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        r = await c.post(
            "/api/v1/events",
            json={"events": [sale("a1")]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200
    assert [a[0] for a in _awards(sqlite_db)] == ["first-sale"]


def _api_key(db: Database) -> str:
    from app.apikeys import create_api_key

    with db.write() as s:
        program = s.execute(sa.select(Program)).scalar_one()
        return create_api_key(s, program, "test-erp")


async def test_gallery_my_badges_and_showcase_show_earned_locked_progress_and_rarity(
    sqlite_db: Database, tmp_path: Path
) -> None:
    users = _people(sqlite_db)
    with sqlite_db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
    for data in DEFINITIONS:
        save_definition(sqlite_db, program, data, NOW)
    save_definition(
        sqlite_db,
        program,
        {"code": "hidden", "name": "Night Owl", "secret": True, "criterion": {"kind": "training"}},
        NOW,
    )
    ingest_events(sqlite_db, program, "erp", _history(), NOW)
    evaluate_new_entries(sqlite_db, program, NOW)
    assert users["rep"].rep_id is not None
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        public = await c.get("/badges")
        assert public.status_code == 200
        assert "Unit Mover" in public.text and "Night Owl" not in public.text
        assert "Secret badge" in public.text
        assert "Held by 50% of participants" in public.text  # first sale: 2 of 4 reps
        await log_in(c, "rep@example.com")
        mine = await c.get("/badges")
        # R00000 has 6 units: bronze (5) held, silver (10) next, 6 of 10 units.
        assert "Next: Silver" in mine.text and "6 units of 10 units" in mine.text
        own = await c.get("/badges/mine")
        assert own.status_code == 200
        assert "First Sale" in own.text and "Learner" not in own.text
        showcase = await c.get("/badges/showcase/R00000")
        assert showcase.status_code == 200 and "Budi 0-0" in showcase.text
        assert (await c.get("/badges/showcase/NOPE")).status_code == 404
        indonesian = await c.get("/badges", headers={"Accept-Language": "id"})
        assert "Lencana" in indonesian.text


async def test_the_earned_page_previews_in_chat_apps_with_open_graph_and_twitter_tags(
    sqlite_db: Database, tmp_path: Path
) -> None:
    program = _setup(sqlite_db)
    ingest_events(sqlite_db, program, "erp", _history(), NOW)
    evaluate_new_entries(sqlite_db, program, NOW)
    with sqlite_db.session() as s:
        uid = s.execute(sa.select(BadgeAward.uid)).scalars().first()
    async with client_for(
        sqlite_db, PODIUM_DATA_DIR=str(tmp_path), PODIUM_BASE_URL="https://podium.example"
    ) as c:
        page = await c.get(f"/badges/earned/{uid}")
    assert page.status_code == 200
    card = f"https://podium.example/badges/earned/{uid}/card.png"
    for tag in (
        f'<meta property="og:image" content="{card}">',
        '<meta property="og:image:width" content="1200">',
        '<meta property="og:image:height" content="630">',
        f'<meta property="og:url" content="https://podium.example/badges/earned/{uid}">',
        '<meta name="twitter:card" content="summary_large_image">',
        f'<meta name="twitter:image" content="{card}">',
    ):
        assert tag in page.text, tag
    assert re.search(r'<meta property="og:title" content="[^"]+ earned [^"]+">', page.text)


async def test_an_opted_out_participant_is_anonymous_on_its_public_badge_page(
    sqlite_db: Database, tmp_path: Path
) -> None:
    program = _setup(sqlite_db)
    ingest_events(sqlite_db, program, "erp", [sale("x1")], NOW)
    evaluate_new_entries(sqlite_db, program, NOW)
    with sqlite_db.write() as s:
        rep = s.execute(sa.select(Rep).where(col(Rep.code) == "R00000")).scalar_one()
        rep.anonymous = True
        s.add(rep)
    with sqlite_db.session() as s:
        uid = s.execute(sa.select(BadgeAward.uid).where(col(BadgeAward.kind) == "rep")).scalar()
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        page = await c.get(f"/badges/earned/{uid}")
    assert "Anonymous earned" in page.text and "Budi 0-0" not in page.text


async def test_admins_define_and_preview_badges_and_others_cannot(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _people(sqlite_db)
    form = {
        "code": "tv-hero",
        "name": "Pahlawan Televisi Terbaik Sepanjang Masa di Jawa Timur 2026",
        "kind": "threshold",
        "measure": "units",
        "window": "all",
        "level_bronze": "10",
        "level_silver": "20",
        "level_gold": "40",
        "icon": "trophy",
    }
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/badges")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        preview = await c.post(
            "/admin/badges/preview",
            data={**form, "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert preview.status_code == 200
        assert preview.text.count("data:image/png;base64,") == 3  # bronze, silver, gold
        assert "Reach 10 / 20 / 40 units (Bronze / Silver / Gold) in total." in preview.text
        bad = await c.post("/admin/badges", data={**form, "code": "Bad Code", "csrf_token": token})
        assert bad.status_code == 400 and "lower-case letters" in bad.text
        saved = await c.post("/admin/badges", data={**form, "csrf_token": token})
        assert saved.status_code == 303
        art = await c.get("/badges/art/P1/tv-hero/gold/128.png")
        assert art.status_code == 200 and art.headers["content-type"] == "image/png"
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        assert (await c.get("/admin/badges")).status_code == 403


def test_the_demo_seeds_badges_and_awards_its_history(sqlite_db: Database) -> None:
    program = _setup(sqlite_db)
    ingest_events(sqlite_db, program, "erp", _history(), NOW)
    made = seed_demo_badges(sqlite_db, program, NOW)
    assert made > 0
    with sqlite_db.session() as s:
        codes = set(s.execute(sa.select(BadgeRow.code)).scalars())
    assert {"first-sale", "on-fire", "top-of-the-month", "outlet-pioneer"} <= codes
    assert seed_demo_badges(sqlite_db, program, NOW) == 0  # again: nothing twice
