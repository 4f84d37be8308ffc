"""Standings on a board: competition ranking, first to reach a value listed first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from game.ranking import (
    ID_LIMIT,
    RankIndex,
    Row,
    Standing,
    competition_ranks,
    ranked_window,
)


def board(*rows: Row) -> RankIndex:
    return RankIndex(rows)


def ids(standings: list[Standing]) -> list[int]:
    return [s.participant_id for s in standings]


def ranks(standings: list[Standing]) -> list[int]:
    return [s.rank for s in standings]


# the rule, in examples --------------------------------------------------------------------------


def test_tied_scores_share_rank_and_first_to_reach_is_listed_first() -> None:
    index = board((1, 50, 9), (2, 80, 3), (3, 50, 4), (4, 50, 7), (5, 20, 1))
    top = index.top(5)
    assert ids(top) == [2, 3, 4, 1, 5]
    assert ranks(top) == [1, 2, 2, 2, 5]
    assert [s.tied for s in top] == [False, True, True, True, False]


def test_equal_values_reached_at_the_same_seq_are_listed_by_participant_id() -> None:
    index = board((9, 10, 5), (4, 10, 5))
    assert ids(index.top(2)) == [4, 9]
    assert ranks(index.top(2)) == [1, 1]


def test_rank_skips_the_places_taken_by_a_tie() -> None:
    index = board((1, 30, 1), (2, 20, 2), (3, 20, 3), (4, 10, 4))
    assert index.standing(4) == Standing(4, 10, 4, rank=4, position=3, tied=False)


def test_a_lone_leader_is_first_and_not_tied() -> None:
    assert board((7, 5, 1)).standing(7) == Standing(7, 5, 1, rank=1, position=0, tied=False)


def test_someone_not_on_the_board_has_no_standing_and_nobody_around() -> None:
    index = board((1, 5, 1))
    assert index.standing(2) is None
    assert index.around(2, 3) == []
    assert 2 not in index
    assert index.value_of(2) is None


def test_an_empty_board_has_no_top_and_no_pages() -> None:
    index = RankIndex()
    assert len(index) == 0
    assert index.top(10) == []
    assert index.page(3, 10) == []
    assert index.rank_for(100) == 1


# updates ----------------------------------------------------------------------------------------


def test_adding_points_moves_a_participant_up_and_records_when_it_got_there() -> None:
    index = board((1, 10, 1), (2, 20, 2))
    assert index.add(1, 15, seq=3) == 25
    assert index.standing(1) == Standing(1, 25, 3, rank=1, position=0, tied=False)


def test_reaching_a_tie_later_lists_you_after_whoever_was_there_first() -> None:
    index = board((1, 10, 1), (2, 20, 2))
    index.add(1, 10, seq=3)
    assert ids(index.top(2)) == [2, 1]
    assert ranks(index.top(2)) == [1, 1]


def test_a_zero_delta_does_not_make_you_a_later_arrival() -> None:
    index = board((1, 20, 1), (2, 20, 2))
    index.add(1, 0, seq=9)
    assert index.seq_of(1) == 1
    assert ids(index.top(2)) == [1, 2]


def test_a_newcomer_starts_at_zero() -> None:
    index = RankIndex()
    assert index.add(3, 7, seq=1) == 7
    assert index.value_of(3) == 7


def test_a_reversal_can_take_a_participant_below_zero_and_down_the_board() -> None:
    index = board((1, 10, 1), (2, 5, 2))
    index.add(1, -15, seq=3)
    assert ids(index.top(2)) == [2, 1]
    assert index.value_of(1) == -5


def test_set_replaces_the_value_and_removal_closes_the_gap() -> None:
    index = board((1, 10, 1), (2, 20, 2), (3, 30, 3))
    index.set(3, 5, seq=4)
    assert ids(index.top(3)) == [2, 1, 3]
    assert index.remove(2) is True
    assert index.remove(2) is False
    assert ids(index.top(3)) == [1, 3]
    assert len(index) == 2


def test_seq_and_participant_ids_must_fit_a_bigint() -> None:
    index = RankIndex()
    index.set(ID_LIMIT - 1, 1, ID_LIMIT - 1)
    assert index.standing(ID_LIMIT - 1) is not None
    with pytest.raises(ValueError):
        index.set(ID_LIMIT, 1, 1)
    with pytest.raises(ValueError):
        index.set(1, 1, -1)


def test_values_may_be_far_beyond_64_bits() -> None:
    index = board((1, 10**40, 1), (2, -(10**40), 2), (3, 0, 3))
    assert ids(index.top(3)) == [1, 3, 2]
    assert index.value_of(2) == -(10**40)


# windows ----------------------------------------------------------------------------------------


def test_around_gives_the_neighbours_and_is_clipped_at_the_top() -> None:
    index = board(*[(pid, 100 - pid, pid) for pid in range(10)])
    assert ids(index.around(1, 2)) == [0, 1, 2, 3]
    assert ids(index.around(5, 1)) == [4, 5, 6]
    assert ids(index.around(9, 2)) == [7, 8, 9]


def test_a_window_starting_inside_a_tie_carries_the_tie_rank() -> None:
    index = board((1, 9, 1), (2, 5, 2), (3, 5, 3), (4, 5, 4), (5, 1, 5))
    window = index.page(2, 3)
    assert ids(window) == [3, 4, 5]
    assert ranks(window) == [2, 2, 5]
    assert [s.tied for s in window] == [True, True, False]


def test_a_window_ending_inside_a_tie_marks_its_last_row_tied() -> None:
    index = board((1, 9, 1), (2, 5, 2), (3, 5, 3))
    assert index.top(2)[-1].tied is True


def test_negative_sizes_are_refused() -> None:
    index = board((1, 1, 1))
    with pytest.raises(ValueError):
        index.page(-1, 3)
    with pytest.raises(ValueError):
        index.around(1, -1)


def test_rank_for_is_the_rank_a_value_would_hold() -> None:
    index = board((1, 30, 1), (2, 20, 2), (3, 20, 3))
    assert [index.rank_for(v) for v in (31, 30, 25, 20, 19)] == [1, 1, 2, 2, 4]


def test_ranked_window_ranks_rows_read_from_elsewhere() -> None:
    rows = [(3, 5, 3), (4, 5, 4), (5, 1, 5)]
    window = ranked_window(rows, first_position=2, first_rank=2, value_before=5)
    assert window == competition_ranks([(1, 9, 1), (2, 5, 2), *rows])[2:]


def test_an_empty_window_is_empty() -> None:
    assert ranked_window([], first_position=4, first_rank=3) == []


def test_the_oracle_ranks_one_two_two_four() -> None:
    rows = [(1, 9, 1), (2, 7, 2), (3, 7, 3), (4, 2, 4)]
    assert ranks(competition_ranks(rows)) == [1, 2, 2, 4]


# properties: the index agrees with the obvious way, whatever happens to it ---------------------

participant_ids = st.integers(0, 12)
# Few values and seqs, so that ties of every shape are common.
values = st.integers(-3, 6)
seqs = st.integers(0, 8)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), participant_ids, values, seqs),
        st.tuples(st.just("add"), participant_ids, st.integers(-3, 3), seqs),
        st.tuples(st.just("remove"), participant_ids, st.just(0), st.just(0)),
    ),
    max_size=40,
)


def apply(
    index: RankIndex, model: dict[int, tuple[int, int]], operation: tuple[str, int, int, int]
) -> None:
    kind, pid, number, seq = operation
    if kind == "set":
        index.set(pid, number, seq)
        model[pid] = (number, seq)
    elif kind == "add":
        value, old_seq = model.get(pid, (0, seq))
        assert index.add(pid, number, seq) == value + number
        model[pid] = (value + number, seq if number or pid not in model else old_seq)
    else:
        assert index.remove(pid) == (pid in model)
        model.pop(pid, None)


def expected(model: dict[int, tuple[int, int]]) -> list[Standing]:
    return competition_ranks([(pid, value, seq) for pid, (value, seq) in model.items()])


def assert_agrees(index: RankIndex, truth: list[Standing], absent: range = range(-1, 15)) -> None:
    assert len(index) == len(truth)
    assert list(index) == [(s.participant_id, s.value, s.seq) for s in truth]
    for s in truth:
        assert index.standing(s.participant_id) == s
        assert s.participant_id in index
    on_board = {s.participant_id for s in truth}
    for pid in absent:  # before, between and beyond the ids on the board
        if pid not in on_board:
            assert pid not in index
            assert index.standing(pid) is None
            assert index.value_of(pid) is None
    for n in range(len(truth) + 2):
        assert index.top(n) == truth[:n]
    for s in truth:
        for n in range(3):
            assert (
                index.around(s.participant_id, n)
                == truth[max(0, s.position - n) : s.position + n + 1]
            )
    for offset in range(len(truth) + 1):
        for limit in range(4):
            assert index.page(offset, limit) == truth[offset : offset + limit]
    for value in range(-8, 12):
        assert index.rank_for(value) == 1 + sum(1 for s in truth if s.value > value)


def small_sublists(index: RankIndex) -> RankIndex:
    """Split the index into sublists of a few keys, as a big board is: the queries that look
    beside a key into the neighbouring sublist get exercised on boards small enough to check."""
    index._keys._reset(4)
    return index


@given(operations, st.booleans())
@settings(max_examples=400)
def test_every_query_agrees_with_the_naive_ranking_after_any_updates(
    ops: list[tuple[str, int, int, int]], split: bool
) -> None:
    index = small_sublists(RankIndex()) if split else RankIndex()
    model: dict[int, tuple[int, int]] = {}
    for operation in ops:
        apply(index, model, operation)
    assert_agrees(index, expected(model))


@given(st.lists(st.sampled_from((2, 3, 5, 8, 9, 10, 20, 21, 40)), max_size=30), st.data())
@settings(max_examples=200)
def test_ids_with_and_without_gaps_are_found_in_small_sublists(
    pids: list[int], data: st.DataObject
) -> None:
    # A chunk of consecutive ids finds an id with one probe, one with gaps bisects: both, and
    # an id that is not there, must come out the same.
    index = small_sublists(RankIndex())
    model: dict[int, tuple[int, int]] = {}
    for pid in pids:
        operation = data.draw(st.sampled_from(("set", "add", "remove")))
        apply(index, model, (operation, pid, data.draw(values), data.draw(seqs)))
    assert_agrees(index, expected(model), absent=range(0, 43))


@given(st.lists(st.tuples(participant_ids, values, seqs), max_size=30))
def test_building_from_rows_equals_setting_them_one_by_one(rows: list[Row]) -> None:
    one_by_one = RankIndex()
    for row in rows:
        one_by_one.set(*row)
    built = small_sublists(RankIndex(rows))
    assert list(built) == list(one_by_one)
    assert_agrees(built, competition_ranks(list(one_by_one)))


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(-50, 50), seqs), max_size=60))
def test_windows_are_ranked_like_the_whole_board(rows: list[Row]) -> None:
    truth = competition_ranks(list(RankIndex(rows)))
    for first in range(len(truth)):
        for stop in range(first + 1, min(len(truth), first + 5) + 1):
            before = truth[first - 1].value if first else None
            after = truth[stop].value if stop < len(truth) else None
            window = [(s.participant_id, s.value, s.seq) for s in truth[first:stop]]
            assert (
                ranked_window(window, first, truth[first].rank, before, after) == truth[first:stop]
            )
