"""Badge criteria as pure rules: each kind, levels, repeats, and "awarded exactly once"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game.badges import (
    ALL_TIME,
    Audience,
    Award,
    BadgeDefinition,
    Criterion,
    Facts,
    Kind,
    Level,
    Measure,
    PeriodFigures,
    Repeat,
    Window,
    awards_due,
    final_standings,
    placement_awards,
    progress,
)

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
LEVELS3 = (Level("bronze", 10), Level("silver", 50), Level("gold", 100))


def badge(code: str, criterion: Criterion, **rest: object) -> BadgeDefinition:
    return BadgeDefinition(
        code=code, name=code.title(), description="", criterion=criterion, **rest
    )  # type: ignore[arg-type]


def facts(
    periods: dict[str, PeriodFigures], held: set[tuple[str, str, str]] = frozenset(), **rest: object
) -> Facts:  # type: ignore[assignment]
    return Facts(Audience.REP, 7, periods, MONTHS, frozenset(held), **rest)  # type: ignore[arg-type]


def held_after(defs: list[BadgeDefinition], f: Facts) -> set[tuple[str, str, str]]:
    return set(f.held) | {a.key for a in awards_due(defs, f)}


def test_the_first_sale_is_awarded_once_in_the_period_it_happened() -> None:
    first = badge("first-sale", Criterion(Kind.FIRST_EVENT, event_type="sale"))
    f = facts(
        {"2026-02": PeriodFigures(events={"sale": 1}), "2026-04": PeriodFigures(events={"sale": 3})}
    )
    assert awards_due([first], f) == [Award("first-sale", "", Audience.REP, 7, ALL_TIME, "2026-02")]


def test_no_event_of_the_type_earns_nothing() -> None:
    first = badge("first-outlet", Criterion(Kind.FIRST_EVENT, event_type="outlet_opened"))
    assert awards_due([first], facts({"2026-01": PeriodFigures(events={"sale": 9})})) == []


def test_an_all_time_threshold_awards_every_level_reached_in_the_period_it_was_crossed() -> None:
    units = badge("units", Criterion(Kind.THRESHOLD, measure=Measure.UNITS), levels=LEVELS3)
    f = facts(
        {
            "2026-01": PeriodFigures(units=8),
            "2026-02": PeriodFigures(units=45),
            "2026-03": PeriodFigures(units=60),
        }
    )
    assert [(a.level, a.earned_in, a.period_key) for a in awards_due([units], f)] == [
        ("bronze", "2026-02", ALL_TIME),
        ("silver", "2026-02", ALL_TIME),
        ("gold", "2026-03", ALL_TIME),
    ]


def test_a_per_period_threshold_that_repeats_is_awarded_in_each_period_that_reached_it() -> None:
    month = badge(
        "big-month",
        Criterion(Kind.THRESHOLD, measure=Measure.REVENUE, window=Window.PERIOD, threshold=1000),
        repeat=Repeat.PER_PERIOD,
    )
    f = facts(
        {
            "2026-01": PeriodFigures(revenue=1200),
            "2026-02": PeriodFigures(revenue=999),
            "2026-03": PeriodFigures(revenue=1000),
        }
    )
    assert [a.period_key for a in awards_due([month], f)] == ["2026-01", "2026-03"]


def test_a_per_period_threshold_earned_once_ignores_later_periods() -> None:
    month = badge(
        "one-big-month",
        Criterion(Kind.THRESHOLD, measure=Measure.POINTS, window=Window.PERIOD, threshold=100),
    )
    f = facts({"2026-02": PeriodFigures(points=150), "2026-04": PeriodFigures(points=300)})
    assert [(a.period_key, a.earned_in) for a in awards_due([month], f)] == [(ALL_TIME, "2026-02")]


def test_a_streak_counts_consecutive_periods_meeting_the_minimum_and_a_gap_restarts_it() -> None:
    streak = badge(
        "on-fire",
        Criterion(Kind.STREAK, measure=Measure.SALES, minimum=2),
        levels=(Level("bronze", 2), Level("silver", 3)),
    )
    sales = [2, 5, 0, 2, 2]  # a run of 2, a gap, a run of 2: never 3 in a row
    f = facts({m: PeriodFigures(events={"sale": n}) for m, n in zip(MONTHS, sales, strict=True)})
    assert [(a.level, a.earned_in) for a in awards_due([streak], f)] == [("bronze", "2026-02")]
    longer = facts({m: PeriodFigures(events={"sale": 2}) for m in MONTHS[:3]})
    assert [(a.level, a.earned_in) for a in awards_due([streak], longer)] == [
        ("bronze", "2026-02"),
        ("silver", "2026-03"),
    ]


def test_a_streak_progress_is_not_broken_by_an_open_period_that_has_not_met_it_yet() -> None:
    streak = badge("on-fire", Criterion(Kind.STREAK, measure=Measure.UNITS, minimum=1, threshold=6))
    f = facts({m: PeriodFigures(units=3) for m in MONTHS[:4]})  # 2026-05 is open and empty
    p = progress(streak, f)
    assert p is not None and (p.value, p.missing) == (4, 2)


def test_challenges_won_and_trainings_completed_count_towards_their_levels() -> None:
    champion = badge("champion", Criterion(Kind.CHALLENGE_WON, threshold=2))
    learner = badge(
        "learner", Criterion(Kind.TRAINING), levels=(Level("bronze", 1), Level("silver", 3))
    )
    f = facts({
        "2026-01": PeriodFigures(challenges_won=1, events={"training": 1}),
        "2026-03": PeriodFigures(challenges_won=1, events={"certification": 1, "training": 1, "sale": 4}),
    })  # fmt: skip
    assert {(a.code, a.level, a.earned_in) for a in awards_due([champion, learner], f)} == {
        ("champion", "", "2026-03"),
        ("learner", "bronze", "2026-01"),
        ("learner", "silver", "2026-03"),
    }


def test_a_badge_for_partners_is_never_awarded_to_a_rep() -> None:
    first = badge("first", Criterion(Kind.FIRST_EVENT), audience=Audience.PARTNER)
    assert awards_due([first], facts({"2026-01": PeriodFigures(events={"sale": 1})})) == []


def test_held_awards_are_not_awarded_again_however_often_the_facts_are_evaluated() -> None:
    defs = [
        badge("units", Criterion(Kind.THRESHOLD, measure=Measure.UNITS), levels=LEVELS3),
        badge("first", Criterion(Kind.FIRST_EVENT)),
        badge(
            "month",
            Criterion(Kind.THRESHOLD, measure=Measure.UNITS, window=Window.PERIOD, threshold=5),
            repeat=Repeat.PER_PERIOD,
        ),
    ]
    f = facts({m: PeriodFigures(units=30, events={"sale": 2}) for m in MONTHS})
    first_run = awards_due(defs, f)
    assert len(first_run) == 3 + 1 + 5
    again = facts(f.periods, held_after(defs, f))
    assert awards_due(defs, again) == []


@given(st.lists(st.integers(min_value=0, max_value=60), min_size=5, max_size=5))
def test_replaying_any_history_in_two_halves_awards_the_same_set_once(units: list[int]) -> None:
    """Evaluating after each period (as entries land) and once at the end give the same awards,
    and the incremental run never awards a key twice."""
    defs = [
        badge("units", Criterion(Kind.THRESHOLD, measure=Measure.UNITS), levels=LEVELS3),
        badge("streak", Criterion(Kind.STREAK, measure=Measure.UNITS, minimum=10, threshold=2)),
        badge(
            "month",
            Criterion(Kind.THRESHOLD, measure=Measure.UNITS, window=Window.PERIOD, threshold=20),
            repeat=Repeat.PER_PERIOD,
        ),
    ]
    figures = {m: PeriodFigures(units=u) for m, u in zip(MONTHS, units, strict=True)}
    held: set[tuple[str, str, str]] = set()
    keys: list[tuple[str, str, str]] = []
    for i in range(1, len(MONTHS) + 1):
        f = Facts(Audience.REP, 7, {m: figures[m] for m in MONTHS[:i]}, MONTHS[:i], frozenset(held))
        new = [a.key for a in awards_due(defs, f)]
        keys += new
        held |= set(new)
    assert len(keys) == len(set(keys))
    at_once = {a.key for a in awards_due(defs, Facts(Audience.REP, 7, figures, MONTHS))}
    assert set(keys) == at_once


def test_the_final_ranking_shares_ranks_and_lists_the_first_to_reach_a_tie_first() -> None:
    rows = [(1, 50, 9), (2, 80, 4), (3, 50, 3), (4, 20, 1)]  # (participant, value, seq)
    assert [(s.participant_id, s.rank) for s in final_standings(rows)] == [
        (2, 1),
        (3, 2),
        (1, 2),
        (4, 4),
    ]


def test_top_n_awards_the_best_level_by_rank_so_ties_both_get_it_and_nobody_with_nothing() -> None:
    top = badge(
        "top",
        Criterion(Kind.TOP_N, board_metric="points"),
        levels=(Level("bronze", 3), Level("gold", 1)),
        repeat=Repeat.PER_PERIOD,
    )
    standings = final_standings([(1, 90, 1), (2, 70, 2), (3, 70, 3), (4, 60, 4), (5, 0, 0)])
    awards = placement_awards(top, standings, "2026-03")
    assert [(a.participant_id, a.level, a.place, a.period_key) for a in awards] == [
        (1, "gold", 1, "2026-03"),
        (2, "bronze", 2, "2026-03"),
        (3, "bronze", 2, "2026-03"),
    ]
    held = frozenset((a.participant_id, a.level, a.period_key) for a in awards)
    assert placement_awards(top, standings, "2026-03", held) == []
    assert len(placement_awards(top, standings, "2026-04", held)) == 3  # a new period, again


def test_top_n_is_never_awarded_from_the_entries_only_at_period_close() -> None:
    top = badge("top", Criterion(Kind.TOP_N, threshold=3))
    assert awards_due([top], facts({"2026-01": PeriodFigures(points=10**9)})) == []


def test_progress_says_what_is_missing_for_the_next_level() -> None:
    units = badge("units", Criterion(Kind.THRESHOLD, measure=Measure.UNITS), levels=LEVELS3)
    p = progress(
        units, facts({"2026-01": PeriodFigures(units=30), "2026-02": PeriodFigures(units=5)})
    )
    assert p is not None and p.reached == LEVELS3[0] and p.next == LEVELS3[1]
    assert (p.value, p.missing, p.percent) == (35, 15, 70)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"code": "Bad Code"}, "lower-case letters"),
        ({"name": "x" * 61}, "keep it to 60"),
        (
            {"levels": [{"name": "gold", "threshold": 5}, {"name": "bronze", "threshold": 1}]},
            "order bronze, silver, gold",
        ),
        (
            {"levels": [{"name": "bronze", "threshold": 5}, {"name": "silver", "threshold": 5}]},
            "higher threshold",
        ),
        (
            {
                "criterion": {"kind": "top_n", "board_metric": "points"},
                "levels": [{"name": "bronze", "threshold": 1}, {"name": "gold", "threshold": 3}],
            },
            "smaller N",
        ),
        (
            {"criterion": {"kind": "threshold", "window": "all"}, "repeat": "period"},
            "within the period",
        ),
        ({"criterion": {"kind": "guess"}}, "use one of first_event"),
        ({"icon": "skull"}, "unknown icon"),
    ],
)
def test_a_definition_that_cannot_work_is_refused_with_a_sentence(
    data: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {"code": "ok", "name": "Ok", "criterion": {"kind": "threshold"}}
    with pytest.raises(ValueError, match=message):
        BadgeDefinition.from_data({**base, **data})


def test_a_definition_survives_its_round_trip_through_data() -> None:
    d = badge(
        "units",
        Criterion(Kind.THRESHOLD, measure=Measure.REVENUE, window=Window.PERIOD),
        levels=LEVELS3,
        repeat=Repeat.PER_PERIOD,
        secret=True,
        icon="bolt",
        translations={"id": {"name": "Unit", "description": "Deskripsi"}},
    )
    assert BadgeDefinition.from_data(d.to_data()) == d
    assert d.localized("id") == ("Unit", "Deskripsi") and d.localized("en")[0] == "Units"
