"""Tier thresholds within a period and what is missing for the next one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class TierMetric(enum.StrEnum):
    UNITS = "units"
    POINTS = "points"
    REVENUE = "revenue"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    threshold: int
    bonus_points: int = 0


@dataclass(frozen=True, slots=True)
class TierLadder:
    metric: TierMetric
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        thresholds = [t.threshold for t in self.tiers]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("tier thresholds must be strictly increasing")
        if any(t.threshold <= 0 for t in self.tiers):
            raise ValueError("tier thresholds must be positive")

    def to_data(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "tiers": [
                {"name": t.name, "threshold": t.threshold, "bonus_points": t.bonus_points}
                for t in self.tiers
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TierLadder:
        return cls(
            metric=TierMetric(data.get("metric", "units")),
            tiers=tuple(
                Tier(str(t["name"]), int(t["threshold"]), int(t.get("bonus_points", 0)))
                for t in data.get("tiers", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class TierProgress:
    value: int
    current: Tier | None
    next: Tier | None

    @property
    def missing(self) -> int:
        """How much more of the ladder's metric reaches the next tier (0 at the top)."""
        return 0 if self.next is None else self.next.threshold - self.value

    @property
    def fraction_to_next(self) -> float:
        if self.next is None:
            return 1.0
        floor = self.current.threshold if self.current else 0
        return (self.value - floor) / (self.next.threshold - floor)


def tier_progress(value: int, ladder: TierLadder) -> TierProgress:
    current: Tier | None = None
    for tier in ladder.tiers:
        if value >= tier.threshold:
            current = tier
        else:
            return TierProgress(value=value, current=current, next=tier)
    return TierProgress(value=value, current=current, next=None)
