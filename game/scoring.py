"""Scoring rules as data: an event in, whole points out.

Points are integers so a partner can always check the arithmetic ("if I sell 10 units I get
50 points"). Every fraction is rounded down once, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from game.events import Activity, EventType


@dataclass(frozen=True, slots=True)
class ScoringRules:
    points_per_unit: Decimal = Decimal(0)
    # ``points_per_amount_step`` points for every full ``amount_step`` of revenue.
    amount_step: Decimal = Decimal(0)
    points_per_amount_step: Decimal = Decimal(0)
    # New product launches and the like: the sale's points are multiplied.
    sku_multipliers: dict[str, Decimal] = field(default_factory=dict)
    # Training, certification, new outlet: flat points.
    activity_points: dict[EventType, int] = field(default_factory=dict)
    cap_per_event: int | None = None
    cap_per_period: int | None = None

    def __post_init__(self) -> None:
        for name in ("points_per_unit", "amount_step", "points_per_amount_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if any(m < 0 for m in self.sku_multipliers.values()):
            raise ValueError("SKU multipliers cannot be negative")
        if any(p < 0 for p in self.activity_points.values()):
            raise ValueError("activity points cannot be negative")
        for cap in (self.cap_per_event, self.cap_per_period):
            if cap is not None and cap < 0:
                raise ValueError("caps cannot be negative")

    def to_data(self) -> dict[str, Any]:
        return {
            "points_per_unit": str(self.points_per_unit),
            "amount_step": str(self.amount_step),
            "points_per_amount_step": str(self.points_per_amount_step),
            "sku_multipliers": {k: str(v) for k, v in self.sku_multipliers.items()},
            "activity_points": {k.value: v for k, v in self.activity_points.items()},
            "cap_per_event": self.cap_per_event,
            "cap_per_period": self.cap_per_period,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ScoringRules:
        return cls(
            points_per_unit=Decimal(str(data.get("points_per_unit", 0))),
            amount_step=Decimal(str(data.get("amount_step", 0))),
            points_per_amount_step=Decimal(str(data.get("points_per_amount_step", 0))),
            sku_multipliers={
                str(k).upper(): Decimal(str(v)) for k, v in data.get("sku_multipliers", {}).items()
            },
            activity_points={
                EventType(k): int(v) for k, v in data.get("activity_points", {}).items()
            },
            cap_per_event=data.get("cap_per_event"),
            cap_per_period=data.get("cap_per_period"),
        )


class Score(NamedTuple):
    points: int
    uncapped: int  # what the rules gave before any cap, so the cut can be explained

    @property
    def capped(self) -> bool:
        return self.points < self.uncapped


def score(activity: Activity, rules: ScoringRules, earned_this_period: int = 0) -> Score:
    """Points for one activity, given what the participant already earned this period."""
    if activity.type == EventType.SALE:
        # Every rate is non-negative, so truncating (// and int()) is rounding down.
        raw = rules.points_per_unit * activity.units
        if rules.amount_step:
            raw += (activity.amount // rules.amount_step) * rules.points_per_amount_step
        if activity.sku is not None and rules.sku_multipliers:
            multiplier = rules.sku_multipliers.get(activity.sku.upper())
            if multiplier is not None:
                raw *= multiplier
        uncapped = int(raw)
    else:
        uncapped = rules.activity_points.get(activity.type, 0)
    points = uncapped
    if rules.cap_per_event is not None:
        points = min(points, rules.cap_per_event)
    if rules.cap_per_period is not None:
        points = min(points, max(0, rules.cap_per_period - earned_this_period))
    return Score(points=max(points, 0), uncapped=uncapped)
