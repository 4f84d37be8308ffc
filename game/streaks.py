"""Streaks: consecutive periods in which a participant met the program's minimum.

Pure rules over counts per period, so the dashboard (computed on view) and a scheduled job
(persisting streaks at period close) give the same answer. The caller supplies the periods
of the program's cadence (``game.periods``), contiguous and oldest first, and what happened
in each; nothing here reads a clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from game.periods import Period


@dataclass(frozen=True, slots=True)
class StreakRule:
    """A period counts towards a streak when it has at least ``min_events`` qualifying events
    (sales, by default one)."""

    min_events: int = 1

    def __post_init__(self) -> None:
        if self.min_events < 1:
            raise ValueError("a streak needs at least one event per period")

    def met(self, events: int) -> bool:
        return events >= self.min_events


@dataclass(frozen=True, slots=True)
class Streak:
    current: int  # periods in the run that is still going (0 when it was broken)
    longest: int  # the longest run ever, the current one included


def streak_of(counts: Sequence[int], rule: StreakRule, last_is_open: bool = False) -> Streak:
    """The streak over ``counts`` (events per period, oldest first, one entry per period).

    ``last_is_open``: the last period is still running. It extends the streak as soon as it
    meets the rule, but not meeting it *yet* breaks nothing: a rep on a five-month streak has
    not lost it on the first morning of the sixth month.
    """
    longest = run = before_last = 0
    for n in counts:
        before_last = run
        run = run + 1 if rule.met(n) else 0
        longest = max(longest, run)
    current = run
    if last_is_open and counts and not rule.met(counts[-1]):
        current = before_last
    return Streak(current=current, longest=longest)


def streak_over(
    periods: Sequence[Period], events: Mapping[str, int], rule: StreakRule, now: datetime
) -> Streak:
    """The streak over ``periods`` (contiguous, oldest first) given the events per period key;
    a period that has not ended at ``now`` counts as open (see ``streak_of``)."""
    for earlier, later in itertools.pairwise(periods):
        if earlier.end != later.start:
            raise ValueError(f"periods {earlier.key} and {later.key} are not consecutive")
    counts = [events.get(period.key, 0) for period in periods]
    return streak_of(counts, rule, last_is_open=bool(periods) and now < periods[-1].end)
