"""Challenge rules: each kind's winners (with ties), windows at their edges and across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from game.challenges import (
    ChallengeIndex,
    ChallengeKind,
    ChallengeMetric,
    Definition,
    Existing,
    Placing,
    Progress,
    ProgressFold,
    Rule,
    Status,
    TeamBy,
    TeamScore,
    Tracked,
    Window,
    check_definition,
    decide,
    duplicate_of,
    local_to_utc,
    status_at,
    window_in_zone,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2026, 12, 8, tzinfo=UTC)


def _won(placings: list[Placing]) -> list[int]:
    return [p.participant_id for p in placings if p.won]


# --- reach a target ---------------------------------------------------------------------------


def test_everyone_who_reaches_the_target_wins_and_one_short_does_not() -> None:
    progress = [Progress(1, 10, 5), Progress(2, 12, 3), Progress(3, 9, 1)]
    assert sorted(_won(decide(Rule(ChallengeKind.TARGET, target=10), progress))) == [1, 2]


def test_tied_target_reachers_share_a_place_and_both_win() -> None:
    placings = decide(Rule(ChallengeKind.TARGET, target=5), [Progress(1, 7, 9), Progress(2, 7, 2)])
    assert [(p.participant_id, p.place, p.won) for p in placings] == [(2, 1, True), (1, 1, True)]


# --- race ---------------------------------------------------------------------------------------


def test_race_winners_are_the_first_n_to_reach_the_target_in_that_order() -> None:
    progress = [
        Progress(1, 50, seq=90, reached_seq=40),  # most units, but reached third
        Progress(2, 20, seq=30, reached_seq=30),
        Progress(3, 25, seq=35, reached_seq=10),
        Progress(4, 19, seq=20, reached_seq=None),
    ]
    placings = {p.participant_id: p for p in decide(Rule(ChallengeKind.RACE, 20, 2), progress)}
    assert _won(list(placings.values())) == [3, 2]
    assert (placings[3].place, placings[2].place, placings[1].place) == (1, 2, 3)
    assert not placings[1].won and placings[4].place is None and not placings[4].won


def test_a_race_tie_on_the_same_moment_goes_to_the_lower_participant_id_deterministically() -> None:
    progress = [Progress(7, 20, 5, reached_seq=5), Progress(3, 20, 5, reached_seq=5)]
    assert _won(decide(Rule(ChallengeKind.RACE, 20, 1), progress)) == [3]


# --- top N --------------------------------------------------------------------------------------


def test_top_n_in_a_tie_at_the_cut_goes_to_whoever_reached_the_value_first() -> None:
    progress = [Progress(1, 30, 1), Progress(2, 20, 8), Progress(3, 20, 4), Progress(4, 10, 2)]
    placings = decide(Rule(ChallengeKind.TOP, winners=2), progress)
    assert [(p.participant_id, p.place) for p in placings] == [(1, 1), (3, 2), (2, 2), (4, 4)]
    assert _won(placings) == [1, 3]


def test_top_n_never_crowns_someone_who_did_nothing() -> None:
    assert _won(
        decide(Rule(ChallengeKind.TOP, winners=3), [Progress(1, 5, 1), Progress(2, 0)])
    ) == [1]


# --- team vs team -------------------------------------------------------------------------------


def test_team_total_wins_with_its_contributing_members() -> None:
    progress = [
        Progress(1, 10, 1, team="A"),
        Progress(2, 10, 2, team="A"),
        Progress(3, 15, 3, team="B"),
        Progress(4, 0, 0, team="A"),
    ]
    placings = decide(Rule(ChallengeKind.TEAM), progress, {"A": 3, "B": 1})
    assert sorted(_won(placings)) == [1, 2]
    assert {p.participant_id: p.place for p in placings}[3] == 2


def test_team_average_per_member_lets_a_small_team_beat_a_big_one() -> None:
    progress = [Progress(1, 10, 1, team="big"), Progress(2, 10, 2, team="big")]
    progress += [Progress(3, 9, 3, team="small")]
    sizes = {"big": 4, "small": 1}  # idle members count: 20 / 4 = 5 against 9 / 1
    placings = decide(Rule(ChallengeKind.TEAM, team_score=TeamScore.AVERAGE), progress, sizes)
    assert _won(placings) == [3]


def test_tied_teams_go_to_the_team_that_reached_the_score_first() -> None:
    progress = [Progress(1, 10, 9, team="A"), Progress(2, 10, 4, team="B")]
    assert _won(decide(Rule(ChallengeKind.TEAM), progress, {"A": 1, "B": 1})) == [2]


# --- head-to-head -------------------------------------------------------------------------------


def test_each_pair_has_one_winner_and_a_tie_goes_to_who_got_there_first() -> None:
    progress = [Progress(1, 5, 1), Progress(2, 8, 2), Progress(3, 6, 7), Progress(4, 6, 3)]
    placings = decide(Rule(ChallengeKind.H2H, pairs=[(1, 2), (3, 4)]), progress)
    assert sorted(_won(placings)) == [2, 4]


def test_a_pair_where_nobody_sold_has_no_winner() -> None:
    placings = decide(Rule(ChallengeKind.H2H, pairs=[(1, 2)]), [])
    assert _won(placings) == [] and [p.place for p in placings] == [None, None]


# --- windows ------------------------------------------------------------------------------------


def _index(**kw: object) -> ChallengeIndex:
    args: dict[str, object] = {
        "id": 1,
        "audience": "rep",
        "metric": ChallengeMetric.UNITS,
        "window": Window(START, END),
    }
    args.update(kw)
    return ChallengeIndex([Tracked(**args)])  # type: ignore[arg-type]


def _adds(index: ChallengeIndex, at: datetime, **kw: object) -> int:
    facts: dict[str, object] = {
        "seq": 1,
        "occurred_at": at,
        "partner_id": 10,
        "region_id": 1,
        "league_id": 1,
        "rep_id": 100,
        "event_type": "sale",
        "sku": "TV-55",
        "units": 3,
        "amount_minor": 500,
        "points": 30,
    }
    facts.update(kw)
    fold = ProgressFold(index, {})
    fold.add(**facts)  # type: ignore[arg-type]
    return sum(value for table in fold.tables.values() for value, *_ in table.values())


def _counted(index: ChallengeIndex, *entry: object) -> list[tuple[int, str, int, int, str]]:
    """(challenge, kind, participant, value, team) of each row one entry makes."""
    fold = ProgressFold(index, {})
    fold.add(*entry)  # type: ignore[arg-type]
    kinds = {c.id: c.audience for c in index.challenges}
    return sorted(
        (cid, kinds[cid], pid, value, team)
        for cid, table in fold.tables.items()
        for pid, (value, _, _, team) in table.items()
    )


def test_an_event_exactly_at_the_start_counts_and_one_exactly_at_the_end_does_not() -> None:
    index = _index()
    assert _adds(index, START) == 3
    assert _adds(index, START - timedelta(microseconds=1)) == 0
    assert _adds(index, END - timedelta(microseconds=1)) == 3
    assert _adds(index, END) == 0


def test_a_window_across_the_dst_change_is_the_wall_clock_days_the_manager_chose() -> None:
    # New York falls back on 1 November 2026: that day has 25 hours.
    window = window_in_zone(datetime(2026, 10, 31), datetime(2026, 11, 2), NEW_YORK)
    assert window.starts_at == datetime(2026, 10, 31, 4, tzinfo=UTC)  # midnight EDT
    assert window.ends_at == datetime(2026, 11, 2, 5, tzinfo=UTC)  # midnight EST
    assert window.ends_at - window.starts_at == timedelta(hours=49)
    index = _index(window=window)
    late_sunday = datetime(2026, 11, 2, 4, 59, tzinfo=UTC)  # 23:59 EST on 1 November
    assert _adds(index, late_sunday) == 3
    assert _adds(index, window.ends_at) == 0


def test_a_wall_clock_time_skipped_by_dst_starts_when_the_clocks_jump() -> None:
    # 8 March 2026, 02:30 never happens in New York: clocks go from 02:00 EST to 03:00 EDT.
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK) == datetime(
        2026, 3, 8, 7, tzinfo=UTC
    )
    # 01:30 on 1 November happens twice: the first one counts.
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


def test_jakarta_wall_clock_is_seven_hours_ahead_of_utc() -> None:
    assert local_to_utc(datetime(2026, 12, 1, 9, 0), JAKARTA) == datetime(
        2026, 12, 1, 2, tzinfo=UTC
    )


# --- what counts, and for whom -----------------------------------------------------------------


def test_an_event_counts_only_for_challenges_whose_scope_and_metric_it_matches() -> None:
    region_units = Tracked(
        1, "rep", ChallengeMetric.UNITS, Window(START, END), region_ids=frozenset({1})
    )
    other_region = Tracked(
        2, "rep", ChallengeMetric.UNITS, Window(START, END), region_ids=frozenset({2})
    )
    ac_only = Tracked(
        3, "rep", ChallengeMetric.UNITS, Window(START, END), skus=frozenset({"AC-1PK"})
    )
    revenue = Tracked(4, "partner", ChallengeMetric.REVENUE, Window(START, END))
    trainings = Tracked(5, "rep", ChallengeMetric.EVENTS, Window(START, END), event_type="training")
    index = ChallengeIndex([region_units, other_region, ac_only, revenue, trainings])
    assert _counted(index, 1, START, 10, 1, 1, 100, "sale", "TV-55", 3, 500, 30) == [
        (1, "rep", 100, 3, ""),
        (4, "partner", 10, 500, ""),
    ]


def test_a_rep_challenge_ignores_events_without_a_rep_and_teams_follow_the_partner() -> None:
    by_partner = Tracked(1, "rep", ChallengeMetric.UNITS, Window(START, END), team_by_partner=True)
    index = ChallengeIndex([by_partner])
    assert _counted(index, 1, START, 10, 1, 1, None, "sale", "TV-55", 3, 5, 3) == []
    assert _counted(index, 1, START, 10, 1, 1, 100, "sale", "TV-55", 3, 5, 3) == [
        (1, "rep", 100, 3, "10")
    ]


# --- the definition -----------------------------------------------------------------------------


def _definition(**kw: object) -> Definition:
    args: dict[str, object] = {
        "name": "TV week",
        "kind": ChallengeKind.TARGET,
        "metric": ChallengeMetric.UNITS,
        "window": Window(START, END),
        "region_ids": frozenset({1}),
        "target": 10,
    }
    args.update(kw)
    return Definition(**args)  # type: ignore[arg-type]


def _problems(d: Definition, allowed: frozenset[int] | None = None, **kw: object) -> list[str]:
    partners: dict[int, int] = kw.get("partners", {})  # type: ignore[assignment]
    return [p.where for p in check_definition(d, START - timedelta(hours=1), allowed, partners)]


def test_a_sound_definition_has_no_problems() -> None:
    assert _problems(_definition(), frozenset({1})) == []


def test_end_before_start_empty_scope_and_a_foreign_region_are_each_explained() -> None:
    assert "ends" in _problems(_definition(window=Window(END, START)))
    assert "scope" in _problems(_definition(region_ids=frozenset()))
    assert "scope" in _problems(_definition(region_ids=frozenset({2})), frozenset({1}))
    assert "scope" in _problems(
        _definition(region_ids=frozenset(), partner_ids=frozenset({5})),
        frozenset({1}),
        partners={5: 2},
    )


def test_kinds_need_their_numbers_teams_and_pairs() -> None:
    assert "target" in _problems(_definition(kind=ChallengeKind.RACE, target=None, winners=1))
    assert "winners" in _problems(_definition(kind=ChallengeKind.TOP, winners=0))
    assert "teams" in _problems(
        _definition(kind=ChallengeKind.TEAM, team_by=TeamBy.CUSTOM, teams={"A": frozenset({1})})
    )
    assert "pairs" in _problems(_definition(kind=ChallengeKind.H2H, pairs=[(1, 1)]))


def test_an_overlapping_challenge_with_the_same_name_or_scope_is_a_duplicate() -> None:
    other = Existing(
        9, "tv week", "top", "revenue", (frozenset(), frozenset(), frozenset()), Window(START, END)
    )
    assert duplicate_of(_definition(), [other]) == other
    later = Existing(
        9,
        "TV week",
        "target",
        "units",
        (frozenset({1}), frozenset(), frozenset()),
        Window(END, END + timedelta(days=1)),
    )
    assert duplicate_of(_definition(), [later]) is None  # back to back is not overlapping
    same_scope = Existing(
        9,
        "Other",
        "target",
        "units",
        (frozenset({1}), frozenset(), frozenset()),
        Window(START, END),
    )
    assert duplicate_of(_definition(), [same_scope]) == same_scope


def test_a_launched_challenge_goes_live_at_its_start_and_ends_at_its_end() -> None:
    assert status_at(Status.SCHEDULED, START, END, START - timedelta(seconds=1)) == Status.SCHEDULED
    assert status_at(Status.SCHEDULED, START, END, START) == Status.LIVE
    assert status_at(Status.LIVE, START, END, END) == Status.ENDED
    assert status_at(Status.SCHEDULED, START, END, END) == Status.ENDED  # missed entirely: ends
    assert status_at(Status.DRAFT, START, END, END) == Status.DRAFT


# --- progress folded from the ledger ------------------------------------------------------------


def _sell(fold: ProgressFold, seq: int, units: int, rep: int = 100, sign: int = 1) -> None:
    fold.add(seq, START + timedelta(hours=seq), 10, 1, 1, rep, "sale", "TV-55", units, 0, 0, sign)


def test_a_fold_keeps_the_value_the_last_entry_and_the_entry_that_reached_the_target() -> None:
    fold = ProgressFold(_index(target=5), {})
    _sell(fold, 1, 2)
    _sell(fold, 2, 3)  # reaches 5
    _sell(fold, 3, 1)
    _sell(fold, 4, 4, rep=101)
    assert fold.progress(1) == [Progress(100, 6, 3, 2), Progress(101, 4, 4, None)]
    assert fold.last == 4


def test_a_reversal_below_the_target_loses_the_reach_and_reaching_again_is_a_new_moment() -> None:
    fold = ProgressFold(_index(target=5), {})
    _sell(fold, 1, 5)
    _sell(fold, 2, 5, sign=-1)  # the sale of entry 1, returned
    assert fold.progress(1) == [Progress(100, 0, 2, None)]
    _sell(fold, 3, 6)
    assert fold.progress(1) == [Progress(100, 6, 3, 3)]


def test_opt_in_counts_only_those_who_joined_and_outside_the_window_nothing_counts() -> None:
    fold = ProgressFold(_index(opt_in=True), {1: frozenset({101})})
    _sell(fold, 1, 2)  # rep 100 did not join
    _sell(fold, 2, 3, rep=101)
    fold.add(3, END, 10, 1, 1, 101, "sale", "TV-55", 9, 0, 0)  # at the end: not inside
    assert fold.progress(1) == [Progress(101, 3, 2, None)]


def test_moved_names_the_rows_entries_after_a_point_changed_for_those_asked_about() -> None:
    fold = ProgressFold(_index(), {})
    _sell(fold, 1, 2)
    _sell(fold, 2, 1, rep=101)
    _sell(fold, 3, 4, rep=102)
    asked = {("rep", 100), ("rep", 101), ("rep", 102), ("partner", 10)}
    assert sorted(fold.moved(asked, after=1)) == [(1, 101, 1, 2), (1, 102, 4, 3)]
    assert fold.moved({("rep", 103)}, after=0) == []
