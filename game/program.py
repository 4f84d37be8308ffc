"""A program's rules, as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from game.periods import Cadence, Period, period_of
from game.scoring import ScoringRules
from game.tiers import TierLadder


@dataclass(frozen=True, slots=True)
class ProgramRules:
    code: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC, exclusive
    cadence: Cadence
    zone: ZoneInfo
    scoring: ScoringRules
    ladder: TierLadder

    def period_of(self, instant: datetime) -> Period:
        return period_of(instant, self.cadence, self.zone)

    def window_error(self, instant: datetime) -> str | None:
        """Why an event at ``instant`` cannot count in this program, or None if it can."""
        if instant < self.starts_at:
            start = self.starts_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")
            return f"occurred_at is before the program starts ({start})"
        if instant >= self.ends_at:
            end = self.ends_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")
            return f"occurred_at is after the program ended ({end})"
        return None
