"""Challenge standings ranked like the boards (in this process or in Redis), on SQLite and
PostgreSQL: a held board moves with each sale through the catch-up, matches the ranking rule's
oracle computed from the stored progress, is built again when a join writes rows without a
ledger entry, is shared by every process through Redis, and names itself to the live channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from sqlmodel import col

from app.boards import Leaderboards
from app.challenges import ChallengeBoards, board_of, join_challenge, standings
from app.db import Database
from app.models import Challenge, Program, Rep
from game.ranking import competition_ranks
from tests.app.test_boards import boards_for
from tests.app.test_challenge_progress import _progress
from tests.app.test_challenges import T0, _ingest, _launch
from tests.app.test_claims import _people
from tests.factories import sale
from tests.services import service_url

BOTH_REGIONS = ("JKT", "SBY")


@pytest.fixture
def boards(any_db: Database, backend: redis.Redis | None) -> Iterator[Leaderboards]:
    made = boards_for(any_db, backend)
    made.sources.append(ChallengeBoards(any_db))
    yield made
    if backend is not None:
        made.cleanup()  # type: ignore[attr-defined]


def _codes(db: Database) -> dict[int, str]:
    with db.session() as s:
        return dict(s.execute(sa.select(col(Rep.id), col(Rep.code))).all())


def _shown(db: Database, boards: Leaderboards, challenge_id: int) -> list[tuple[int, str, int]]:
    codes = _codes(db)
    with db.session() as s:
        c = s.get(Challenge, challenge_id)
        assert c is not None
        board = standings(s, boards, c, None, limit=10)
    return [(r.rank, codes[r.participant_id], r.value) for r in board.rows]


def _oracle(db: Database, challenge_id: int) -> list[tuple[int, str, int]]:
    """The ranking rule applied to the stored progress rows, the obvious way."""
    codes = _codes(db)
    stored = _progress(db, challenge_id)
    ranked = competition_ranks((pid, value, seq) for pid, (value, seq, _) in stored.items())
    return [(st.rank, codes[st.participant_id], st.value) for st in ranked if st.value > 0]


def test_a_held_board_moves_with_each_sale_and_matches_the_rule(
    any_db: Database, boards: Leaderboards
) -> None:
    users = _people(any_db)
    c = _launch(any_db, users["admin"], kind="top", target="", winners="3", regions=BOTH_REGIONS)
    assert c.id is not None
    _ingest(
        any_db,
        sale("a", units=5, occurred_at="2026-11-22T19:01:00+07:00"),
        sale("b", units=5, partner="PT001", rep="R00100", occurred_at="2026-11-22T19:02:00+07:00"),
        sale("c", units=2, rep="R00001", occurred_at="2026-11-22T19:03:00+07:00"),
    )
    # Equal values share a rank; who reached 5 first is listed first.
    assert _shown(any_db, boards, c.id) == [(1, "R00000", 5), (1, "R00100", 5), (3, "R00001", 2)]
    assert _shown(any_db, boards, c.id) == _oracle(any_db, c.id)

    # The board is held now: the next sale reaches it through the catch-up, not a rebuild.
    _ingest(any_db, sale("d", units=4, rep="R00001", occurred_at="2026-11-22T19:04:00+07:00"))
    assert _shown(any_db, boards, c.id) == [(1, "R00001", 6), (2, "R00000", 5), (2, "R00100", 5)]
    assert _shown(any_db, boards, c.id) == _oracle(any_db, c.id)

    # A sale outside the window changes nothing, on the board or in the store.
    _ingest(any_db, sale("e", units=9, partner="PT001", rep="R00100"))
    assert _shown(any_db, boards, c.id) == _oracle(any_db, c.id)
    assert _shown(any_db, boards, c.id)[0] == (1, "R00001", 6)


def test_you_and_the_counts_come_from_the_board(any_db: Database, boards: Leaderboards) -> None:
    users = _people(any_db)
    c = _launch(any_db, users["admin"], kind="top", target="", winners="3", regions=BOTH_REGIONS)
    assert c.id is not None
    rep = users["rep"].rep_id
    assert rep is not None
    with any_db.session() as s:
        board = standings(s, boards, s.get(Challenge, c.id), ("rep", rep))  # type: ignore[arg-type]
    assert board.you is not None and (board.you.value, board.you.rank) == (0, 1)
    assert (board.active, board.participants) == (0, 4)
    _ingest(
        any_db,
        sale("a", units=1, occurred_at="2026-11-22T19:01:00+07:00"),
        sale("b", units=3, rep="R00001", occurred_at="2026-11-22T19:02:00+07:00"),
    )
    with any_db.session() as s:
        board = standings(s, boards, s.get(Challenge, c.id), ("rep", rep))  # type: ignore[arg-type]
    assert board.you is not None and (board.you.value, board.you.rank) == (1, 2)
    assert board.active == 2
    assert [r.you for r in board.rows] == [False, True]


def test_joining_builds_the_board_again_with_the_joiners_earlier_sales(
    any_db: Database, boards: Leaderboards
) -> None:
    users = _people(any_db)
    c = _launch(any_db, users["admin"], kind="top", winners="1", enrolment="opt_in", target="")
    assert c.id is not None
    _ingest(any_db, sale("a1", units=4, occurred_at="2026-11-22T19:05:00+07:00"))
    assert _shown(any_db, boards, c.id) == []  # built, and held: nobody has joined
    # Joining writes the backfilled row with no new ledger entry for a catch-up to see.
    join_challenge(any_db, c.id, users["rep"], T0 + timedelta(minutes=30))
    assert _shown(any_db, boards, c.id) == [(1, "R00000", 4)]


@pytest.mark.redis
def test_every_process_reads_the_same_challenge_board_through_redis(any_db: Database) -> None:
    client = redis.Redis.from_url(service_url("PODIUM_TEST_REDIS_URL", "Redis"))
    here = boards_for(any_db, client)
    assert here.redis is not None
    prefix = here.redis.prefix
    there = Leaderboards(any_db, client, redis_prefix=prefix, view_max_age=0)
    for b in (here, there):
        b.sources.append(ChallengeBoards(any_db))
    try:
        users = _people(any_db)
        c = _launch(any_db, users["admin"], kind="top", target="", winners="3")
        assert c.id is not None
        _ingest(any_db, sale("a", units=2, occurred_at="2026-11-22T19:01:00+07:00"))
        assert _shown(any_db, there, c.id) == [(1, "R00000", 2)]  # built once, in Redis
        with any_db.session() as s:
            program = s.get(Program, c.program_id)
        assert program is not None
        here.catch_up(program)  # the writer process is up and has seen the ledger so far
        _ingest(any_db, sale("b", units=3, rep="R00001", occurred_at="2026-11-22T19:02:00+07:00"))
        here.settle(program)  # the writer's catch-up moves the shared board...
        there.view_max_age = 60.0  # ...which the other process reads without one of its own
        assert _shown(any_db, there, c.id) == [(1, "R00001", 3), (2, "R00000", 2)]
    finally:
        here.cleanup()  # type: ignore[attr-defined]
        client.close()


def test_a_sale_names_the_challenge_board_it_moves(any_db: Database, boards: Leaderboards) -> None:
    """The live channel re-renders a challenge page when its board is named, and only then."""
    users = _people(any_db)
    c = _launch(any_db, users["manager"], kind="top", target="", winners="3")
    assert c.id is not None
    _shown(any_db, boards, c.id)
    seen: list[set[str]] = []
    boards.on_change.append(lambda program, changed: seen.append(changed))
    with any_db.session() as s:
        program = s.get(Program, c.program_id)
    assert program is not None
    _ingest(any_db, sale("out", units=1, partner="PT001", rep="R00100"))  # other region
    boards.catch_up(program)
    assert seen and all(board_of(c.id) not in changed for changed in seen)
    seen.clear()
    _ingest(any_db, sale("in", units=1, occurred_at="2026-11-22T19:01:00+07:00"))
    boards.catch_up(program)
    assert any(board_of(c.id) in changed for changed in seen)
