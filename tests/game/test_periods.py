import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from game.periods import Cadence, next_period, parse_period_key, period_of, periods_between

ZONES = [
    "Asia/Jakarta",
    "Europe/Berlin",
    "Asia/Kathmandu",
    "America/Los_Angeles",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "UTC",
]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(instant=instants, zone=st.sampled_from(ZONES), cadence=st.sampled_from(list(Cadence)))
def test_every_instant_lies_in_exactly_the_period_that_contains_it(instant, zone, cadence):
    period = period_of(instant, cadence, ZoneInfo(zone))
    assert period.start <= instant < period.end
    assert period_of(period.start, cadence, ZoneInfo(zone)) == period
    assert period_of(period.end, cadence, ZoneInfo(zone)) == next_period(period, ZoneInfo(zone))


@settings(max_examples=50)
@given(start=instants, zone=st.sampled_from(ZONES), cadence=st.sampled_from(list(Cadence)))
def test_consecutive_periods_touch_with_no_gap_or_overlap(start, zone, cadence):
    periods = periods_between(start, start + timedelta(days=800), cadence, ZoneInfo(zone))
    for before, after in itertools.pairwise(periods):
        assert before.end == after.start
        assert before.key != after.key
    assert len({p.key for p in periods}) == len(periods)


@given(instant=instants, zone=st.sampled_from(ZONES), cadence=st.sampled_from(list(Cadence)))
def test_a_period_key_reads_back_as_the_same_period(instant, zone, cadence):
    period = period_of(instant, cadence, ZoneInfo(zone))
    assert parse_period_key(period.key, cadence, ZoneInfo(zone)) == period


def test_jakarta_month_ends_at_local_midnight():
    zone = ZoneInfo("Asia/Jakarta")
    last = datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=zone)
    first = datetime(2026, 12, 1, 0, 0, 0, tzinfo=zone)
    assert period_of(last, Cadence.MONTH, zone).key == "2026-11"
    assert period_of(first, Cadence.MONTH, zone).key == "2026-12"


def test_berlin_week_across_the_autumn_dst_change_lasts_169_hours():
    zone = ZoneInfo("Europe/Berlin")
    week = period_of(datetime(2026, 10, 25, 12, tzinfo=UTC), Cadence.WEEK, zone)
    assert week.key == "2026-W43"
    assert week.end - week.start == timedelta(hours=169)


def test_kathmandu_day_starts_at_1815_utc():
    zone = ZoneInfo("Asia/Kathmandu")
    day = period_of(datetime(2026, 11, 22, 18, 15, tzinfo=UTC), Cadence.DAY, zone)
    assert day.key == "2026-11-23"
    assert day.start == datetime(2026, 11, 22, 18, 15, tzinfo=UTC)


def test_santiago_day_whose_midnight_does_not_exist_starts_at_one_oclock():
    zone = ZoneInfo("America/Santiago")
    day = period_of(datetime(2026, 9, 6, 12, tzinfo=UTC), Cadence.DAY, zone)
    assert day.start.astimezone(zone).hour == 1
    assert day.end - day.start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("cadence", "key"),
    [
        (Cadence.WEEK, "2026-47"),
        (Cadence.QUARTER, "2026-Q5"),
        (Cadence.MONTH, "Nov 2026"),
        (Cadence.DAY, "22/11/2026"),
    ],
)
def test_a_malformed_period_key_says_how_to_write_it(cadence, key):
    with pytest.raises(ValueError, match="write it like"):
        parse_period_key(key, cadence, ZoneInfo("Asia/Jakarta"))
