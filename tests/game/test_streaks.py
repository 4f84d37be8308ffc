import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game.periods import Cadence, period_of, periods_between
from game.streaks import Streak, StreakRule, streak_of, streak_over

counts = st.lists(st.integers(min_value=0, max_value=5), max_size=40)
rules = st.builds(StreakRule, st.integers(min_value=1, max_value=4))
JAKARTA = ZoneInfo("Asia/Jakarta")


def runs(values: list[int], rule: StreakRule) -> list[int]:
    """Oracle: the lengths of every run of periods meeting the rule."""
    return [len(list(g)) for met, g in itertools.groupby(values, rule.met) if met]


@given(values=counts, rule=rules)
def test_longest_is_the_longest_run_and_current_the_trailing_one(values, rule):
    streak = streak_of(values, rule)
    assert streak.longest == max(runs(values, rule), default=0)
    trailing = len(list(itertools.takewhile(rule.met, reversed(values))))
    assert streak.current == trailing
    assert 0 <= streak.current <= streak.longest <= len(values)


@given(values=counts, rule=rules)
def test_a_period_meeting_the_rule_extends_the_current_streak_by_one(values, rule):
    before = streak_of(values, rule)
    after = streak_of([*values, rule.min_events], rule)
    assert after.current == before.current + 1
    assert after.longest == max(before.longest, after.current)


@given(values=counts, rule=rules)
def test_a_closed_period_below_the_minimum_breaks_the_streak_but_keeps_the_longest(values, rule):
    before = streak_of(values, rule)
    after = streak_of([*values, rule.min_events - 1], rule)
    assert after == Streak(current=0, longest=before.longest)


@given(values=counts, rule=rules)
def test_an_open_period_without_enough_sales_yet_breaks_nothing(values, rule):
    closed = streak_of(values, rule)
    assert streak_of([*values, rule.min_events - 1], rule, last_is_open=True) == closed


@given(values=counts, rule=rules)
def test_an_open_period_that_already_meets_the_rule_counts(values, rule):
    assert streak_of([*values, rule.min_events], rule, last_is_open=True) == streak_of(
        [*values, rule.min_events], rule
    )


@given(values=counts, low=st.integers(1, 3), extra=st.integers(0, 3))
def test_a_stricter_minimum_never_makes_a_streak_longer(values, low, extra):
    lenient = streak_of(values, StreakRule(low))
    strict = streak_of(values, StreakRule(low + extra))
    assert strict.current <= lenient.current and strict.longest <= lenient.longest


def test_three_months_of_sales_after_a_gap_is_a_streak_of_three_with_four_the_longest():
    assert streak_of([1, 2, 1, 1, 0, 3, 1, 1], StreakRule()) == Streak(current=3, longest=4)


def test_a_minimum_of_two_sales_ignores_months_with_one():
    assert streak_of([2, 1, 2, 2], StreakRule(min_events=2)) == Streak(current=2, longest=2)


def test_no_periods_no_streak():
    assert streak_of([], StreakRule()) == Streak(0, 0)
    assert streak_of([], StreakRule(), last_is_open=True) == Streak(0, 0)


def test_a_rule_without_a_minimum_is_refused():
    with pytest.raises(ValueError, match="at least one event"):
        StreakRule(min_events=0)


def test_weeks_in_the_program_zone_decide_the_streak():
    # Jakarta weeks: Sunday 23:30 local is still the week before, Monday 00:30 the next one.
    start = datetime(2026, 11, 2, tzinfo=JAKARTA)  # a Monday
    now = datetime(2026, 11, 25, 12, tzinfo=JAKARTA)  # Wednesday of the fourth week
    periods = periods_between(start, now, Cadence.WEEK, JAKARTA)
    sales = [
        datetime(2026, 11, 3, 10, tzinfo=JAKARTA),
        datetime(2026, 11, 15, 23, 30, tzinfo=JAKARTA),  # Sunday: week 2
        datetime(2026, 11, 16, 0, 30, tzinfo=JAKARTA),  # Monday: week 3
    ]
    keys = [period_of(s.astimezone(UTC), Cadence.WEEK, JAKARTA).key for s in sales]
    events = {k: keys.count(k) for k in keys}
    # Weeks 1-3 have sales; week 4 is still running and has none yet.
    assert streak_over(periods, events, StreakRule(), now.astimezone(UTC)) == Streak(3, 3)
    # Once week 4 is over without a sale, the streak is broken.
    later = now + timedelta(days=7)
    periods = periods_between(start, later, Cadence.WEEK, JAKARTA)
    assert streak_over(periods, events, StreakRule(), later.astimezone(UTC)) == Streak(0, 3)


@given(
    zone=st.sampled_from(["Asia/Jakarta", "Asia/Kathmandu", "Europe/Berlin", "America/Santiago"]),
    cadence=st.sampled_from(list(Cadence)),
    every=st.integers(min_value=1, max_value=3),
)
def test_a_sale_in_every_period_is_a_streak_as_long_as_the_periods_in_any_zone(
    zone, cadence, every
):
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=200)
    periods = periods_between(start, now, cadence, tz)
    events = {p.key: every for p in periods}
    streak = streak_over(periods, events, StreakRule(min_events=every), now)
    assert streak == Streak(len(periods), len(periods))


def test_periods_with_a_gap_are_refused():
    periods = periods_between(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC), Cadence.MONTH, JAKARTA
    )
    with pytest.raises(ValueError, match="not consecutive"):
        streak_over([periods[0], periods[2]], {}, StreakRule(), datetime(2026, 5, 1, tzinfo=UTC))
