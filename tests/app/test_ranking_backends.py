"""Both ranking backends answer alike; the in-process one holds only the boards being watched."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ranking import InProcessRanking, RankingBackend, RedisRanking, board_key
from game.ranking import Row, Standing, competition_ranks
from tests.services import service_url


@pytest.fixture
def redis_ranking() -> Iterator[RedisRanking]:
    url = service_url("PODIUM_TEST_REDIS_URL", "Redis")
    client = redis.Redis.from_url(url)
    prefix = f"podium-test:{uuid.uuid4().hex}:"
    try:
        yield RedisRanking(client, prefix=prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def nothing_stored(board: str) -> Iterable[Row]:
    return ()


# identical answers ------------------------------------------------------------------------------

participant_ids = st.integers(0, 9)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), participant_ids, st.integers(-3, 6), st.integers(0, 8)),
        st.tuples(st.just("add"), participant_ids, st.integers(-3, 3), st.integers(0, 8)),
        st.tuples(st.just("remove"), participant_ids, st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def answers(backend: RankingBackend, board: str, participants: Iterable[int]) -> list[object]:
    seen: list[object] = [backend.count(board)]
    for pid in participants:
        seen += [backend.standing(board, pid), backend.around(board, pid, 2)]
    seen += [backend.top(board, n) for n in (1, 3, 20)]
    seen += [backend.page(board, offset, 3) for offset in range(0, 12, 2)]
    seen += [backend.rank_for(board, value) for value in (-4, 0, 3, 12)]
    return seen


@pytest.mark.redis
@given(operations)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example has its board
)
def test_both_backends_give_identical_answers_for_any_updates(
    redis_ranking: RedisRanking, ops: list[tuple[str, int, int, int]]
) -> None:
    board = board_key(1, "2025-06", f"team:{uuid.uuid4().hex[:8]}", "points")
    in_process = InProcessRanking(nothing_stored)
    in_process.replace(board, [])
    backends: list[RankingBackend] = [in_process, redis_ranking]
    try:
        for kind, pid, number, seq in ops:
            if kind == "set":
                results = [b.set(board, pid, number, seq) for b in backends]
            elif kind == "add":
                results = [b.add(board, pid, number, seq) for b in backends]
            else:
                results = [b.remove(board, pid) for b in backends]
            assert results[0] == results[1]
            assert answers(in_process, board, [pid]) == answers(redis_ranking, board, [pid])
        everyone = range(10)
        assert answers(in_process, board, everyone) == answers(redis_ranking, board, everyone)
        rows = [(s.participant_id, s.value, s.seq) for s in redis_ranking.top(board, 20)]
        assert redis_ranking.top(board, 20) == competition_ranks(rows)
    finally:
        redis_ranking.drop(board)


@pytest.mark.redis
def test_redis_lists_ties_by_first_to_reach_even_for_large_values(
    redis_ranking: RedisRanking,
) -> None:
    board = board_key(1, "2025-06", "all", "revenue")
    big = 10**15  # rupiah in minor units
    redis_ranking.replace(board, [(1, big, 9), (2, big, 3), (3, 2**53 - 1, 50), (4, big - 1, 1)])
    assert redis_ranking.top(board, 4) == [
        Standing(3, 2**53 - 1, 50, rank=1, position=0, tied=False),
        Standing(2, big, 3, rank=2, position=1, tied=True),
        Standing(1, big, 9, rank=2, position=2, tied=True),
        Standing(4, big - 1, 1, rank=4, position=3, tied=False),
    ]
    assert redis_ranking.add(board, 4, 1, seq=60) == big
    assert redis_ranking.standing(board, 4) == Standing(4, big, 60, 2, 3, True)


@pytest.mark.redis
def test_redis_refuses_values_a_score_cannot_hold_exactly(redis_ranking: RedisRanking) -> None:
    board = board_key(1, "2025-06", "all", "revenue")
    with pytest.raises(ValueError):
        redis_ranking.set(board, 1, 2**53, 1)
    redis_ranking.set(board, 1, 2**53 - 2, 1)
    assert redis_ranking.add(board, 1, 1, 2) == 2**53 - 1
    with pytest.raises(ValueError):
        redis_ranking.add(board, 1, 1, 3)
    with pytest.raises(ValueError):
        redis_ranking.add(board, 2, -(2**53), 3)
    assert redis_ranking.standing(board, 1) == Standing(1, 2**53 - 1, 2, 1, 0, False)


@pytest.mark.redis
def test_redis_replace_swaps_the_whole_board_and_leaves_no_scratch_keys(
    redis_ranking: RedisRanking,
) -> None:
    board = board_key(1, "2025-06", "all", "points")
    redis_ranking.replace(board, [(1, 5, 1), (2, 7, 2)])
    redis_ranking.replace(board, [(3, 1, 3)], chunk=1)
    assert redis_ranking.top(board, 5) == [Standing(3, 1, 3, 1, 0, False)]
    client = redis.Redis.from_url(service_url("PODIUM_TEST_REDIS_URL", "Redis"))
    assert sorted(client.scan_iter(match=f"{redis_ranking.prefix}*")) == sorted(
        k.encode() for k in redis_ranking.keys(board)
    )
    redis_ranking.replace(board, [])
    assert redis_ranking.count(board) == 0
    assert list(client.scan_iter(match=f"{redis_ranking.prefix}*")) == []


@pytest.mark.redis
def test_redis_scripts_load_themselves_into_a_redis_that_forgot_them(
    redis_ranking: RedisRanking,
) -> None:
    board = board_key(1, "2025-06", "all", "points")
    redis_ranking.set(board, 1, 5, 1)
    redis_ranking._standing.sha = "0" * 40  # as if Redis had restarted and lost its scripts
    assert redis_ranking.standing(board, 1) == Standing(1, 5, 1, 1, 0, False)


def test_board_keys_cannot_break_out_of_their_redis_hash_tag() -> None:
    assert board_key(7, "2025-06", "region:3", "points") == "7:2025-06:region:3:points"
    with pytest.raises(ValueError):
        board_key(7, "2025-06", "region:}", "points")


# lazy build and eviction ------------------------------------------------------------------------


class Store:
    """Boards as the database would give them, counting the reads."""

    def __init__(self, boards: dict[str, list[Row]]) -> None:
        self.boards = boards
        self.reads: list[str] = []

    def __call__(self, board: str) -> list[Row]:
        self.reads.append(board)
        return self.boards.get(board, [])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_board_is_built_from_the_store_on_its_first_read_only() -> None:
    store = Store({"a": [(1, 5, 1), (2, 9, 2)]})
    ranking = InProcessRanking(store)
    assert ranking.held() == []
    assert [s.participant_id for s in ranking.top("a", 2)] == [2, 1]
    assert ranking.standing("a", 1) == Standing(1, 5, 1, 2, 1, False)
    assert store.reads == ["a"]


def test_writes_to_a_board_nobody_watches_are_left_to_the_store() -> None:
    store = Store({"a": [(1, 5, 1)]})
    ranking = InProcessRanking(store)
    assert ranking.add("a", 1, 10, seq=2) is None
    assert ranking.held() == []
    store.boards["a"] = [(1, 15, 2)]  # the ledger has the entry
    assert ranking.standing("a", 1) == Standing(1, 15, 2, 1, 0, False)


def test_writes_to_a_watched_board_move_it_at_once() -> None:
    ranking = InProcessRanking(Store({"a": [(1, 5, 1), (2, 9, 2)]}))
    ranking.count("a")
    assert ranking.add("a", 1, 10, seq=3) == 15
    ranking.set("a", 3, 20, seq=4)
    ranking.remove("a", 2)
    assert [(s.participant_id, s.rank) for s in ranking.top("a", 5)] == [(3, 1), (1, 2)]


def test_a_write_racing_the_build_is_replayed_unless_the_store_already_had_it() -> None:
    ranking: InProcessRanking

    def store(board: str) -> list[Row]:
        # Two entries commit while the board is being read: seq 7 made it into these rows,
        # seq 8 did not.
        ranking.add(board, 1, 5, seq=7)
        ranking.add(board, 2, 3, seq=8)
        ranking.set(board, 3, 4, seq=9)
        return [(1, 15, 7), (2, 10, 6)]

    ranking = InProcessRanking(store)
    assert [(s.participant_id, s.value) for s in ranking.top("a", 3)] == [(1, 15), (2, 13), (3, 4)]


def test_the_least_recently_read_board_goes_first_when_too_many_are_held() -> None:
    store = Store({})
    ranking = InProcessRanking(store, max_boards=2)
    ranking.top("a", 1)
    ranking.top("b", 1)
    ranking.top("a", 1)  # a is watched again: b is now the idlest
    ranking.top("c", 1)
    assert ranking.held() == ["a", "c"]
    ranking.top("b", 1)
    assert store.reads == ["a", "b", "c", "b"]


def test_boards_are_evicted_to_stay_under_the_participant_cap() -> None:
    store = Store({name: [(pid, pid, pid) for pid in range(10)] for name in "abc"})
    ranking = InProcessRanking(store, max_participants=25)
    for name in "abc":
        ranking.count(name)
    assert ranking.held() == ["b", "c"]


def test_a_board_bigger_than_the_cap_is_still_served() -> None:
    ranking = InProcessRanking(Store({"a": [(1, 1, 1), (2, 2, 2)]}), max_participants=1)
    assert ranking.count("a") == 2


def test_boards_nobody_read_for_a_while_are_evicted() -> None:
    clock = Clock()
    ranking = InProcessRanking(Store({}), idle_seconds=60, clock=clock)
    ranking.top("a", 1)
    clock.now += 50
    ranking.top("b", 1)
    assert ranking.evict_idle() == []
    clock.now += 20
    assert ranking.evict_idle() == ["a"]
    assert ranking.held() == ["b"]


def test_writes_do_not_keep_an_unwatched_board_in_memory() -> None:
    clock = Clock()
    ranking = InProcessRanking(Store({}), idle_seconds=60, clock=clock)
    ranking.top("a", 1)
    clock.now += 61
    ranking.add("a", 1, 5, seq=1)
    assert ranking.evict_idle() == ["a"]


def test_readers_arriving_during_a_build_wait_for_it_and_the_store_is_read_once() -> None:
    release = threading.Event()
    store = Store({"a": [(1, 5, 1)]})

    def slow_store(board: str) -> list[Row]:
        release.wait(5)
        return store(board)

    ranking = InProcessRanking(slow_store)
    seen: list[Standing | None] = []
    readers = [
        threading.Thread(target=lambda: seen.append(ranking.standing("a", 1))) for _ in range(4)
    ]
    for reader in readers:
        reader.start()
    release.set()
    for reader in readers:
        reader.join(5)
    assert seen == [Standing(1, 5, 1, 1, 0, False)] * 4
    assert store.reads == ["a"]


def test_a_failing_store_read_is_raised_and_retried_on_the_next_read() -> None:
    calls: list[str] = []

    def flaky(board: str) -> list[Row]:
        calls.append(board)
        if len(calls) == 1:
            raise ConnectionError("database away")
        return [(1, 1, 1)]

    ranking = InProcessRanking(flaky)
    with pytest.raises(ConnectionError):
        ranking.count("a")
    assert ranking.count("a") == 1


def test_drop_forgets_a_board_until_it_is_read_again() -> None:
    store = Store({"a": [(1, 1, 1)]})
    ranking = InProcessRanking(store)
    ranking.count("a")
    ranking.drop("a")
    assert ranking.held() == []
    ranking.count("a")
    assert store.reads == ["a", "a"]
