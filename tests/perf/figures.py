"""What every benchmark reports: a figure beside its anchor measured in the same run."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    anchor: float  # the same quantity for the reference measured in the same run
    goal: str  # e.g. "<=0.3" or ">=0.5", applied to ratio = value / anchor
    anchor_name: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.anchor if self.anchor else float("inf")

    @property
    def ok(self) -> bool:
        op, bound = self.goal[:2], float(self.goal[2:])
        return self.ratio <= bound if op == "<=" else self.ratio >= bound

    def as_json(self) -> str:
        data: dict[str, Any] = {
            "name": self.name,
            "value": round(self.value, 6),
            "unit": self.unit,
            "anchor": round(self.anchor, 6),
            "ratio": round(self.ratio, 4),
            "goal": self.goal,
            "ok": self.ok,
        }
        return json.dumps(data)

    def as_text(self) -> str:
        mark = "ok  " if self.ok else "MISS"
        return (
            f"{mark} {self.name:<52} {self.value:>12.4g} {self.unit:<8} "
            f"anchor {self.anchor:>12.4g}  ratio {self.ratio:>7.3f}  goal {self.goal}"
            + (f"  ({self.anchor_name})" if self.anchor_name else "")
        )


def percentile(samples: list[float], q: float) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[max(0, int(q * 1000) - 1)]
