"""Boards through the whole path: events in, ranks out — on both ranking backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy as sa

from app.boards import Leaderboards
from app.db import Database
from app.ingest import ingest_events
from app.models import Partner, Program, Rep, Target
from app.programs import current_program
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind
from tests.factories import make_world, sale

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
EVERYONE = Scope(ScopeKind.EVERYONE)


def boards_for(db: Database, client: redis.Redis | None) -> Leaderboards:
    prefix = f"podium-test:{uuid.uuid4().hex}:"
    boards = Leaderboards(db, client, redis_prefix=prefix, view_max_age=0)
    if client is not None:
        boards.cleanup = lambda: [client.delete(k) for k in client.scan_iter(prefix + "*")]  # type: ignore[attr-defined]
    return boards


def program_of(db: Database) -> Program:
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    return program


def send(db: Database, *events: dict, now: datetime = NOW) -> None:
    report = ingest_events(db, program_of(db), "erp", list(events), now)
    assert report.accepted == len(events), report.rejected


def ranks(boards: Leaderboards, db: Database, spec: BoardSpec) -> list[tuple[int, str, int, bool]]:
    view = boards.view(program_of(db), spec, limit=50)
    return [(r.rank, r.code, r.value, r.tied) for r in view.top]


def units(
    period: str = "2026-11", scope: Scope = EVERYONE, audience: Audience = Audience.REPS
) -> BoardSpec:
    return BoardSpec(audience, scope, Metric.UNITS, period)


def test_tied_values_share_a_rank_and_the_first_to_reach_is_listed_first(
    any_db: Database, backend: redis.Redis | None
) -> None:
    make_world(any_db, partners=2, reps_per_partner=2)
    boards = boards_for(any_db, backend)
    try:
        send(any_db, sale("a", units=5, rep="R00001", invoice="1"))  # reaches 5 first
        send(any_db, sale("b", units=9, partner="PT001", rep="R00100", invoice="2"))
        send(any_db, sale("c", units=3, rep="R00000", invoice="3"))
        assert ranks(boards, any_db, units()) == [
            (1, "R00100", 9, False),
            (2, "R00001", 5, False),
            (3, "R00000", 3, False),
        ]
        send(any_db, sale("d", units=2, rep="R00000", invoice="4"))  # R00000 reaches 5 later
        send(any_db, sale("e", units=5, partner="PT001", rep="R00101", invoice="5"))  # and R00101
        assert ranks(boards, any_db, units()) == [
            (1, "R00100", 9, False),
            (2, "R00001", 5, True),
            (2, "R00000", 5, True),
            (2, "R00101", 5, True),
        ]
        view = boards.view(program_of(any_db), units(), you=4)  # R00101 is rep id 4
        assert view.you is not None and (view.you.rank, view.you.position) == (2, 3)
    finally:
        getattr(boards, "cleanup", lambda: None)()


def test_a_reversal_moves_a_participant_down_and_the_board_follows(
    any_db: Database, backend: redis.Redis | None
) -> None:
    from app.ledger import reverse_entry

    make_world(any_db)
    boards = boards_for(any_db, backend)
    try:
        send(
            any_db,
            sale("a", units=5, rep="R00000", invoice="1"),
            sale("b", units=4, rep="R00001", invoice="2"),
        )
        points = BoardSpec(Audience.REPS, EVERYONE, Metric.POINTS, "2026-11")
        assert [r[1] for r in ranks(boards, any_db, points)] == ["R00000", "R00001"]
        with any_db.write() as s:
            reverse_entry(s, any_db, 1, memo="returned goods", now=NOW)
        assert ranks(boards, any_db, points) == [
            (1, "R00001", 40, False),
            (2, "R00000", 0, False),
        ]
    finally:
        getattr(boards, "cleanup", lambda: None)()


def test_each_scope_holds_only_its_members(any_db: Database, backend: redis.Redis | None) -> None:
    make_world(any_db, partners=3, reps_per_partner=2)  # PT000, PT002 in JKT; PT001 in SBY
    boards = boards_for(any_db, backend)
    try:
        send(
            any_db,
            sale("a", units=1, partner="PT000", rep="R00000", invoice="1"),
            sale("b", units=2, partner="PT000", rep="R00001", invoice="2"),
            sale("c", units=3, partner="PT001", rep="R00100", invoice="3"),
            sale("d", units=4, partner="PT002", rep="R00200", invoice="4"),
        )
        region = [r[1] for r in ranks(boards, any_db, units(scope=Scope(ScopeKind.REGION, "JKT")))]
        team = [r[1] for r in ranks(boards, any_db, units(scope=Scope(ScopeKind.TEAM, "PT000")))]
        league = [r[1] for r in ranks(boards, any_db, units(scope=Scope(ScopeKind.LEAGUE, "L")))]
        partners = [
            r[1]
            for r in ranks(
                boards,
                any_db,
                units(scope=Scope(ScopeKind.REGION, "SBY"), audience=Audience.PARTNERS),
            )
        ]
        assert region == ["R00200", "R00001", "R00000"]
        assert team == ["R00001", "R00000"]
        assert league == ["R00200", "R00100", "R00001", "R00000"]
        assert partners == ["PT001"]
        # A sale after the boards are built moves every scope it belongs to.
        send(any_db, sale("e", units=10, partner="PT000", rep="R00000", invoice="5"))
        assert ranks(boards, any_db, units(scope=Scope(ScopeKind.TEAM, "PT000")))[0][:3] == (
            1,
            "R00000",
            11,
        )
        assert ranks(boards, any_db, units(scope=Scope(ScopeKind.REGION, "JKT")))[0][1] == "R00000"
    finally:
        getattr(boards, "cleanup", lambda: None)()


def test_percent_of_target_lets_a_small_partner_beat_a_big_one(
    sqlite_db: Database, backend: redis.Redis | None
) -> None:
    make_world(sqlite_db, partners=2, reps_per_partner=1)
    with sqlite_db.write() as s:
        program = current_program(s)
        ids = dict(s.execute(sa.select(Partner.code, Partner.id)).all())
        for code, target in (("PT000", 10_000_000), ("PT001", 500_000_000)):  # in rupiah
            s.add(
                Target(
                    program_id=program.id,
                    period_key="2026-11",
                    kind="partner",
                    participant_id=ids[code],
                    revenue_minor=target * 100,
                )
            )
    boards = boards_for(sqlite_db, backend)
    try:
        send(
            sqlite_db,
            sale("small", partner="PT000", rep=None, amount=12_000_000, invoice="1"),  # 120 %
            sale("big", partner="PT001", rep=None, amount=450_000_000, invoice="2"),  # 90 %
        )
        spec = BoardSpec(Audience.PARTNERS, EVERYONE, Metric.TARGET_PCT, "2026-11")
        assert ranks(boards, sqlite_db, spec) == [
            (1, "PT000", 12_000, False),
            (2, "PT001", 9_000, False),
        ]
        revenue = BoardSpec(Audience.PARTNERS, EVERYONE, Metric.REVENUE, "2026-11")
        assert [r[1] for r in ranks(boards, sqlite_db, revenue)] == ["PT001", "PT000"]
    finally:
        getattr(boards, "cleanup", lambda: None)()


def test_growth_compares_each_partner_with_its_own_baseline_and_skips_those_without_one(
    any_db: Database, backend: redis.Redis | None
) -> None:
    make_world(any_db, partners=3, reps_per_partner=1)
    boards = boards_for(any_db, backend)
    try:
        send(
            any_db,
            sale(
                "s-oct",
                partner="PT000",
                rep=None,
                amount=10_000_000,
                invoice="1",
                occurred_at="2026-10-10T10:00:00+07:00",
            ),
            sale(
                "b-oct",
                partner="PT001",
                rep=None,
                amount=900_000_000,
                invoice="2",
                occurred_at="2026-10-10T10:00:00+07:00",
            ),
            sale("s-nov", partner="PT000", rep=None, amount=20_000_000, invoice="3"),  # +100 %
            sale("b-nov", partner="PT001", rep=None, amount=927_000_000, invoice="4"),  # +3 %
            sale("new", partner="PT002", rep=None, amount=50_000_000, invoice="5"),  # no baseline
        )
        spec = BoardSpec(Audience.PARTNERS, EVERYONE, Metric.GROWTH_PCT, "2026-11")
        assert ranks(boards, any_db, spec) == [
            (1, "PT000", 10_000, False),
            (2, "PT001", 300, False),
        ]
        # A drop is negative growth, ranked below any gain.
        send(
            any_db,
            sale(
                "b-dec",
                partner="PT001",
                rep=None,
                amount=100,
                invoice="6",
                occurred_at="2026-12-01T00:00:00+07:00",
            ),
            now=datetime(2026, 12, 2, tzinfo=UTC),
        )
        december = BoardSpec(Audience.PARTNERS, EVERYONE, Metric.GROWTH_PCT, "2026-12")
        assert ranks(boards, any_db, december)[0][1:3] == ("PT001", -10_000)
    finally:
        getattr(boards, "cleanup", lambda: None)()


@pytest.mark.parametrize(
    ("zone", "last_instant", "first_instant"),
    [
        ("Asia/Jakarta", "2026-11-30T23:59:59.999+07:00", "2026-12-01T00:00:00+07:00"),
        ("Asia/Kathmandu", "2026-11-30T23:59:59.999+05:45", "2026-12-01T00:00:00+05:45"),
        # Berlin: the October board includes the repeated hour of the DST change on the 25th.
        ("Europe/Berlin", "2026-10-31T23:59:59.999+01:00", "2026-11-01T00:00:00+01:00"),
    ],
)
def test_events_at_the_edges_of_a_month_land_on_the_right_board(
    sqlite_db: Database,
    backend: redis.Redis | None,
    zone: str,
    last_instant: str,
    first_instant: str,
) -> None:
    make_world(sqlite_db, timezone=zone)
    boards = boards_for(sqlite_db, backend)
    try:
        send(
            sqlite_db,
            sale("last", units=1, rep="R00000", invoice="1", occurred_at=last_instant),
            sale("first", units=2, rep="R00001", invoice="2", occurred_at=first_instant),
            now=datetime(2026, 12, 5, tzinfo=UTC),
        )
        before = last_instant[:7]
        after = first_instant[:7]
        assert [r[1] for r in ranks(boards, sqlite_db, units(before))] == ["R00000"]
        assert [r[1] for r in ranks(boards, sqlite_db, units(after))] == ["R00001"]
        assert [r[1] for r in ranks(boards, sqlite_db, units("all"))] == ["R00001", "R00000"]
    finally:
        getattr(boards, "cleanup", lambda: None)()


def test_berlin_week_boards_cover_the_dst_change_without_a_gap(sqlite_db: Database) -> None:
    make_world(sqlite_db, timezone="Europe/Berlin", cadence="week")
    boards = boards_for(sqlite_db, None)
    # 02:30 local happens twice on 2026-10-25; both belong to ISO week 43 (ends Sunday 25th).
    send(
        sqlite_db,
        sale(
            "first-0230",
            units=1,
            rep="R00000",
            invoice="1",
            occurred_at="2026-10-25T02:30:00+02:00",
        ),
        sale(
            "second-0230",
            units=1,
            rep="R00001",
            invoice="2",
            occurred_at="2026-10-25T02:30:00+01:00",
        ),
        sale(
            "monday",
            units=1,
            rep="R00100",
            partner="PT001",
            invoice="3",
            occurred_at="2026-10-26T00:00:00+01:00",
        ),
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert {r[1] for r in ranks(boards, sqlite_db, units("2026-W43"))} == {"R00000", "R00001"}
    assert [r[1] for r in ranks(boards, sqlite_db, units("2026-W44"))] == ["R00100"]


def test_another_process_writes_show_up_on_the_next_view(sqlite_db: Database) -> None:
    """A second Leaderboards (another app process, or `podium import`) wrote to the database."""
    make_world(sqlite_db)
    watching = boards_for(sqlite_db, None)
    send(sqlite_db, sale("a", units=1, rep="R00000", invoice="1"))
    assert [r[1] for r in ranks(watching, sqlite_db, units())] == ["R00000"]
    send(sqlite_db, sale("b", units=3, rep="R00001", invoice="2"))  # nobody told `watching`
    assert [r[1] for r in ranks(watching, sqlite_db, units())] == ["R00001", "R00000"]


def test_anonymous_participants_are_named_anonymous(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    with sqlite_db.write() as s:
        s.execute(sa.update(Rep).where(Rep.code == "R00000").values(anonymous=True))
    boards = boards_for(sqlite_db, None)
    send(sqlite_db, sale("a", units=1, rep="R00000", invoice="1"))
    view = boards.view(program_of(sqlite_db), units())
    assert [(r.code, r.name) for r in view.top] == [("R00000", "Anonymous")]


def test_percentage_boards_refuse_all_time_and_team_boards_refuse_partners() -> None:
    with pytest.raises(ValueError, match="pick a period"):
        BoardSpec(Audience.REPS, EVERYONE, Metric.GROWTH_PCT, "all")
    with pytest.raises(ValueError, match="team board"):
        BoardSpec(Audience.PARTNERS, Scope(ScopeKind.TEAM, "PT000"), Metric.UNITS, "2026-11")
    with pytest.raises(ValueError, match="unknown scope"):
        Scope.parse("planet:mars")


def test_a_batch_touching_more_participants_than_one_query_takes_moves_every_board(
    any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A close's bonuses or a big import touch 100k+ participants at once; PostgreSQL takes at
    most 65,535 parameters a statement, so the catch-up reads them in chunks (here of 2)."""
    monkeypatch.setattr("app.boards.FACTS_CHUNK", 2)
    make_world(any_db, partners=3, reps_per_partner=3)
    boards = boards_for(any_db, None)
    spec = units()
    assert ranks(boards, any_db, spec) == []  # built (empty) before the batch lands
    reps = [f"R{p:03d}{r:02d}" for p in range(3) for r in range(3)]
    send(
        any_db,
        *(
            sale(f"s{i}", units=i + 1, partner=code[:1].replace("R", "PT") + code[1:4], rep=code)
            for i, code in enumerate(reps)
        ),
    )
    assert [r[1:3] for r in ranks(boards, any_db, spec)] == [
        (code, i + 1) for i, code in reversed(list(enumerate(reps)))
    ]
