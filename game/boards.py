"""What a leaderboard is (who, where, by what measure) and the value each participant gets.

Fair metrics: % of target and growth % compare each participant with itself (its own target,
its own baseline period), so a small dealer that doubles its sales outranks a giant that grew
by 3 %. Percentages are basis points (1 % = 100), integers like every other board value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ALL_TIME = "all"
BASIS_POINTS = 10_000  # 100 %


class Audience(enum.StrEnum):
    REPS = "reps"
    PARTNERS = "partners"


class ScopeKind(enum.StrEnum):
    EVERYONE = "everyone"
    REGION = "region"
    LEAGUE = "league"
    TEAM = "team"  # the reps of one partner


class Metric(enum.StrEnum):
    POINTS = "points"
    UNITS = "units"
    REVENUE = "revenue"
    TARGET_PCT = "target_pct"
    GROWTH_PCT = "growth_pct"

    @property
    def is_percentage(self) -> bool:
        return self in (Metric.TARGET_PCT, Metric.GROWTH_PCT)


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    code: str | None = None  # region, league or partner code

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``everyone``, ``region:JTM``, ``league:UTAMA`` or ``team:JTM-0014``."""
        kind, _, code = text.strip().partition(":")
        try:
            scope_kind = ScopeKind(kind.lower())
        except ValueError:
            raise ValueError(
                f"unknown scope '{text}'; use everyone, region:CODE, league:CODE or team:PARTNER"
            ) from None
        if scope_kind == ScopeKind.EVERYONE:
            if code:
                raise ValueError("the everyone scope takes no code")
            return cls(scope_kind)
        if not code.strip():
            raise ValueError(
                f"the {scope_kind.value} scope needs a code, e.g. {scope_kind.value}:JTM"
            )
        return cls(scope_kind, code.strip().upper())

    def __str__(self) -> str:
        return self.kind.value if self.code is None else f"{self.kind.value}:{self.code}"


@dataclass(frozen=True, slots=True)
class BoardSpec:
    audience: Audience
    scope: Scope
    metric: Metric
    period_key: str  # a period key, or "all"

    def __post_init__(self) -> None:
        if self.scope.kind == ScopeKind.TEAM and self.audience != Audience.REPS:
            raise ValueError("a team board ranks the reps of one partner; use audience reps")
        if self.period_key == ALL_TIME and self.metric.is_percentage:
            raise ValueError(
                f"{self.metric.value} compares one period with its target or baseline; pick a period"
            )

    @property
    def key(self) -> str:
        return f"{self.period_key}|{self.audience.value}|{self.scope}|{self.metric.value}"


@dataclass(frozen=True, slots=True)
class Totals:
    """A participant's totals in one period (revenue in minor units)."""

    points: int = 0
    units: int = 0
    revenue: int = 0
    points_seq: int = 0
    units_seq: int = 0
    revenue_seq: int = 0


def percentage(part: int, whole: int) -> int:
    """``part / whole`` in basis points, rounded down (towards -inf for losses)."""
    return (part * BASIS_POINTS) // whole


def board_value(
    metric: Metric, totals: Totals, target: int | None = None, baseline: int | None = None
) -> tuple[int, int] | None:
    """(value, seq) of a participant on a board of ``metric``; None when it cannot be ranked
    there fairly (no target set, no baseline sales to grow from)."""
    match metric:
        case Metric.POINTS:
            return totals.points, totals.points_seq
        case Metric.UNITS:
            return totals.units, totals.units_seq
        case Metric.REVENUE:
            return totals.revenue, totals.revenue_seq
        case Metric.TARGET_PCT:
            if not target or target <= 0:
                return None
            return percentage(totals.revenue, target), totals.revenue_seq
        case Metric.GROWTH_PCT:
            if not baseline or baseline <= 0:
                return None
            return percentage(totals.revenue - baseline, baseline), totals.revenue_seq
