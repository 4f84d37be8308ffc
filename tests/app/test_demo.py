"""The demo seed: the promised world, seeded once, entirely through the ingestion path."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.accounts import Role, authenticate
from app.apikeys import find_api_key
from app.db import Database, make_engine
from app.demo import (
    DEMO_PASSWORD,
    HISTORY_SOURCE,
    SIMULATOR_SOURCE,
    DemoInfo,
    seed_demo,
    simulate_sales,
)
from app.ingest import IngestReport, ingest_events
from app.models import (
    ApiKey,
    Event,
    League,
    LedgerEntry,
    Partner,
    PeriodTotal,
    Product,
    Program,
    Region,
    Rep,
    User,
    UserRegion,
)

NOW = datetime(2026, 5, 14, 6, 30, tzinfo=UTC)  # 13:30 in Jakarta, mid-month


@pytest.fixture(scope="module")
def _seeded(
    _migrated_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, DemoInfo]:
    """Seed once per module (it takes seconds); each test works on its own copy."""
    path = tmp_path_factory.mktemp("demo") / "podium.db"
    shutil.copy(_migrated_sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    info = seed_demo(db, NOW)
    db.dispose()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    assert info is not None
    return path, info


@pytest.fixture
def demo(_seeded: tuple[Path, DemoInfo], tmp_path: Path) -> Iterator[tuple[Database, DemoInfo]]:
    path, info = _seeded
    copy = tmp_path / "demo.db"  # not podium.db: sqlite_db uses that name in the same tmp_path
    shutil.copy(path, copy)
    db = Database(f"sqlite:///{copy}")
    yield db, info
    db.dispose()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_seed_gives_the_promised_world(demo: tuple[Database, DemoInfo]) -> None:
    db, info = demo
    assert (_count(db, Region), _count(db, League), _count(db, Product)) == (7, 3, 30)
    assert _count(db, Partner) == info.partners == 200
    assert _count(db, Rep) == info.reps == 1_000
    assert (info.regions, info.leagues, info.products) == (7, 3, 30)
    with db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
        assert program.code == info.program_code
        assert (program.timezone, program.currency, program.cadence) == ("Asia/Jakarta", "IDR", "month")
        assert program.starts_at == datetime(2026, 1, 31, 17, tzinfo=UTC)  # 1 Feb 00:00 WIB
        assert program.starts_at < NOW < program.ends_at
        assert program.scoring["sku_multipliers"] and program.tiers["tiers"]
        # Every partner has reps, and every league and region has partners.
        assert s.execute(
            sa.select(sa.func.count()).select_from(Partner).where(
                ~sa.exists().where(col(Rep.partner_id) == col(Partner.id))
            )
        ).scalar_one() == 0
        assert len(set(s.execute(sa.select(col(Partner.league_id))).scalars())) == 3
        assert len(set(s.execute(sa.select(col(Partner.region_id))).scalars())) == 7
        emails = s.execute(sa.select(col(Rep.email))).scalars().all()
        assert len(set(emails)) == len(emails)
        assert all(re.fullmatch(r"[a-z]+(\.[a-z]+)?\d*@[a-z0-9]+\.co\.id", e) for e in emails)
        codes = s.execute(sa.select(col(Partner.code))).scalars().all()
        assert all(re.fullmatch(r"[A-Z]{3}-\d{4}", c) for c in codes)


def test_history_has_sales_in_each_month_and_nothing_in_the_future(
    demo: tuple[Database, DemoInfo],
) -> None:
    db, info = demo
    with db.session() as s:
        sales: dict[str, int] = dict(
            s.execute(
                sa.select(col(Event.period_key), sa.func.count())
                .where(col(Event.type) == "sale", col(Event.source) == HISTORY_SOURCE)
                .group_by(col(Event.period_key))
            ).all()
        )
        kinds = set(s.execute(sa.select(col(Event.type)).distinct()).scalars())
        latest = s.execute(sa.select(sa.func.max(Event.occurred_at))).scalar_one()
    for month in ("2026-02", "2026-03", "2026-04"):
        assert sales[month] > 1_000, sales
    assert sales.get("2026-05", 0) > 0  # the month so far, so today's boards are not empty
    assert kinds == {"sale", "training", "certification", "outlet_opened"}
    assert latest <= NOW
    assert info.history_events == _count(db, Event)


def test_every_history_event_went_through_the_ledger(demo: tuple[Database, DemoInfo]) -> None:
    db, info = demo
    assert _count(db, LedgerEntry) == _count(db, Event) == info.history_events
    with db.session() as s:
        orphans = s.execute(
            sa.select(sa.func.count()).select_from(Event).where(
                ~sa.exists().where(col(LedgerEntry.event_id) == col(Event.id))
            )
        ).scalar_one()
        ledger_points = s.execute(sa.select(sa.func.sum(LedgerEntry.points))).scalar_one()
        total_points = s.execute(
            sa.select(sa.func.sum(PeriodTotal.points)).where(
                col(PeriodTotal.kind) == "partner", col(PeriodTotal.period_key) == "all"
            )
        ).scalar_one()
    assert orphans == 0
    assert ledger_points == total_points > 0


def test_demo_logins_authenticate_and_the_api_key_works(demo: tuple[Database, DemoInfo]) -> None:
    db, info = demo
    assert {role for role, _, _ in info.logins} == {r.value for r in Role}
    with db.session() as s:
        users = {}
        for role, email, password in info.logins:
            assert password == DEMO_PASSWORD
            user = authenticate(s, email, password)
            assert user is not None and user.role == role
            users[role] = user
        assert authenticate(s, info.logins[0][1], "wrong-password") is None
        rep, admin = users[Role.REP.value], users[Role.PARTNER_ADMIN.value]
        assert rep.rep_id is not None and rep.partner_id == admin.partner_id is not None
        assert s.get(Rep, rep.rep_id).partner_id == rep.partner_id  # type: ignore[union-attr]
        manager = users[Role.REGIONAL_MANAGER.value]
        regions = s.execute(
            sa.select(col(UserRegion.region_id)).where(col(UserRegion.user_id) == manager.id)
        ).scalars().all()
        partner = s.get(Partner, admin.partner_id)
        assert partner is not None and regions == [partner.region_id]
        key = find_api_key(s, info.api_key)
        assert key is not None and key.name == "demo-erp"
    assert _count(db, User) == 4


def test_seeding_twice_does_nothing(demo: tuple[Database, DemoInfo]) -> None:
    db, _ = demo
    models = (Program, Region, League, Partner, Rep, Product, Event, LedgerEntry, User, ApiKey)
    before = [_count(db, m) for m in models]
    assert seed_demo(db, NOW) is None
    assert [_count(db, m) for m in models] == before


def test_seeding_is_reproducible(
    demo: tuple[Database, DemoInfo], sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same `now`, same demo. The second run's history is recorded rather than ingested (the
    ledger is tested above), which keeps this test to a fraction of a full seed."""
    db, info = demo
    sent: list[dict[str, Any]] = []

    def record(_db: Database, _program: Program, source: str, batch: list[dict[str, Any]],
               _now: datetime, **_: Any) -> IngestReport:
        assert source == HISTORY_SOURCE and len(batch) <= 1_000
        sent.extend(batch)
        return IngestReport(accepted=len(batch))

    monkeypatch.setattr("app.demo.ingest_events", record)
    again = seed_demo(sqlite_db, NOW)
    assert again is not None and again.history_events == info.history_events
    query = sa.select(col(Rep.code), col(Rep.name), col(Rep.email)).order_by(col(Rep.code))
    with db.session() as a, sqlite_db.session() as b:
        assert a.execute(query).all() == b.execute(query).all()
        stored = a.execute(
            sa.select(col(Event.external_id), col(Event.units), col(Event.invoice))
            .order_by(col(Event.external_id))
        ).all()
    assert [(e["id"], e.get("units", 0), e.get("invoice")) for e in sent] == [tuple(r) for r in stored]


def test_simulator_ingests_sales_and_stops_when_asked(demo: tuple[Database, DemoInfo]) -> None:
    db, info = demo
    before = _count(db, Event)

    async def run(at_least: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            simulate_sales(db, info.program_code, stop, clock=lambda: NOW, interval=0.05, rng_seed=7)
        )
        for _ in range(3000):  # wait for the sales, not a fixed time (steady on a busy machine)
            if _count(db, Event) >= at_least:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(run(before + 2))
    with db.session() as s:
        simulated = s.execute(
            sa.select(Event).where(col(Event.source) == SIMULATOR_SOURCE)
        ).scalars().all()
    assert len(simulated) >= 2
    assert all(e.type == "sale" and e.occurred_at == NOW and e.units >= 1 for e in simulated)
    assert _count(db, Event) == before + len(simulated) == _count(db, LedgerEntry)
    assert len({e.invoice for e in simulated}) == len(simulated)

    # A second run with the same seed and a frozen clock still brings new sales, not duplicates.
    asyncio.run(run(before + len(simulated) + 1))
    assert _count(db, Event) > before + len(simulated)


async def _run_briefly(
    db: Database, code: str, seconds: float, until: Callable[[], bool] | None = None
) -> None:
    """Run the simulator for ``seconds``, or until ``until()`` holds (at most 30 s): waiting
    on the condition, not a fixed time, keeps this test steady on a busy machine."""
    stop = asyncio.Event()
    task = asyncio.create_task(simulate_sales(db, code, stop, clock=lambda: NOW, interval=0.02))
    if until is None:
        await asyncio.sleep(seconds)
    else:
        for _ in range(3000):
            if until():
                break
            await asyncio.sleep(0.01)
    assert not task.done()  # still running: errors were logged, not raised
    stop.set()
    await asyncio.wait_for(task, timeout=5)


def test_simulator_waits_for_a_missing_program(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.demo"):
        asyncio.run(_run_briefly(sqlite_db, "NO-SUCH-PROGRAM", 0.08))
    assert "not found" in caplog.text


def test_simulator_survives_a_failing_ingest(
    demo: tuple[Database, DemoInfo], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, info = demo
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> IngestReport:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return ingest_events(*args, **kwargs)

    monkeypatch.setattr("app.demo.ingest_events", flaky)
    before = _count(db, Event)
    with caplog.at_level(logging.ERROR, logger="app.demo"):
        asyncio.run(_run_briefly(
            db, info.program_code, 0.15, until=lambda: len(calls) >= 2 and _count(db, Event) > before
        ))
    assert "tick failed" in caplog.text
    assert len(calls) >= 2 and _count(db, Event) > before
