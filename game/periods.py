"""Period windows in a program's time zone.

A period is a half-open window ``[start, end)`` of local calendar days in the program's zone,
stored and compared in UTC. Boundaries are always computed from local midnights by one function,
so the end of one period *is* the start of the next: DST changes and odd offsets (+05:45) can
never skip or double a period.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class Cadence(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, slots=True)
class Period:
    """One window of a cadence: ``key`` is stable and human readable (2026-W47, 2026-11, 2026-Q4)."""

    cadence: Cadence
    key: str
    first_day: date
    last_day: date
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone``.

    Where midnight does not exist (a DST jump at 00:00), the day begins at the first instant
    that does; where it happens twice, at the first of the two.
    """
    naive = datetime.combine(day, time(0))
    candidate = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    # A skipped midnight maps to an instant whose local date may be the previous day; step forward.
    if candidate.astimezone(zone).date() < day:
        candidate = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return candidate


def _first_day(day: date, cadence: Cadence) -> date:
    match cadence:
        case Cadence.DAY:
            return day
        case Cadence.WEEK:  # ISO weeks start on Monday
            return day - timedelta(days=day.weekday())
        case Cadence.MONTH:
            return day.replace(day=1)
        case Cadence.QUARTER:
            return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_first_day(first: date, cadence: Cadence) -> date:
    match cadence:
        case Cadence.DAY:
            return first + timedelta(days=1)
        case Cadence.WEEK:
            return first + timedelta(days=7)
        case Cadence.MONTH:
            return date(first.year + first.month // 12, first.month % 12 + 1, 1)
        case Cadence.QUARTER:
            month = first.month + 3
            return date(first.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _key(first: date, cadence: Cadence) -> str:
    match cadence:
        case Cadence.DAY:
            return first.isoformat()
        case Cadence.WEEK:
            iso = first.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        case Cadence.MONTH:
            return f"{first.year}-{first.month:02d}"
        case Cadence.QUARTER:
            return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def period_starting(first: date, cadence: Cadence, zone: ZoneInfo) -> Period:
    following = _next_first_day(first, cadence)
    return Period(
        cadence=cadence,
        key=_key(first, cadence),
        first_day=first,
        last_day=following - timedelta(days=1),
        start=local_midnight_utc(first, zone),
        end=local_midnight_utc(following, zone),
    )


def period_of(instant: datetime, cadence: Cadence, zone: ZoneInfo) -> Period:
    """The period containing ``instant`` (an aware datetime) in ``zone``."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    local_day = instant.astimezone(zone).date()
    period = period_starting(_first_day(local_day, cadence), cadence, zone)
    # Guard for the rare zone where a transition sits exactly on a boundary.
    if instant < period.start:
        return previous_period(period, zone)
    if instant >= period.end:
        return next_period(period, zone)
    return period


def next_period(period: Period, zone: ZoneInfo) -> Period:
    return period_starting(_next_first_day(period.first_day, period.cadence), period.cadence, zone)


def previous_period(period: Period, zone: ZoneInfo) -> Period:
    before = period.first_day - timedelta(days=1)
    return period_starting(_first_day(before, period.cadence), period.cadence, zone)


def periods_between(
    start: datetime, end: datetime, cadence: Cadence, zone: ZoneInfo
) -> list[Period]:
    """Every period overlapping ``[start, end)``, in order, contiguous."""
    out: list[Period] = []
    period = period_of(start, cadence, zone)
    while period.start < end:
        out.append(period)
        period = next_period(period, zone)
    return out


def parse_period_key(key: str, cadence: Cadence, zone: ZoneInfo) -> Period:
    """Inverse of ``Period.key``; raises ValueError with a readable message."""
    try:
        match cadence:
            case Cadence.DAY:
                first = date.fromisoformat(key)
            case Cadence.WEEK:
                year, week = key.split("-W")
                first = date.fromisocalendar(int(year), int(week), 1)
            case Cadence.MONTH:
                year, month = key.split("-")
                first = date(int(year), int(month), 1)
            case Cadence.QUARTER:
                year, quarter = key.split("-Q")
                if not 1 <= int(quarter) <= 4:
                    raise ValueError
                first = date(int(year), 3 * (int(quarter) - 1) + 1, 1)
    except ValueError:
        examples = {
            "day": "2026-11-22",
            "week": "2026-W47",
            "month": "2026-11",
            "quarter": "2026-Q4",
        }
        raise ValueError(
            f"'{key}' is not a {cadence.value} period; write it like {examples[cadence.value]}"
        ) from None
    return period_starting(first, cadence, zone)
