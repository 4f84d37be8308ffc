"""A participant's standing in a program: balance, this period's totals, tier progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.ingest import ALL_TIME
from app.models import League, LedgerEntry, Partner, PeriodTotal, Program, Region, Rep
from app.programs import rules_of
from game.periods import Period
from game.tiers import TierMetric, TierProgress, tier_progress


@dataclass(frozen=True)
class Summary:
    kind: str  # "rep" or "partner"
    code: str
    name: str
    partner: Partner
    region: Region
    league: League
    anonymous: bool
    balance: int
    period: Period
    points: int
    units: int
    revenue_minor: int
    events: int
    all_time_points: int
    tier: TierProgress

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "name": self.name,
            "partner": {"code": self.partner.code, "name": self.partner.name},
            "region": self.region.code,
            "league": self.league.code,
            "balance": self.balance,
            "all_time_points": self.all_time_points,
            "period": {
                "key": self.period.key,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
                "points": self.points,
                "units": self.units,
                "revenue": {"amount": f"{self.revenue_minor / 100:.2f}", "currency": currency},
                "events": self.events,
            },
            "tier": {
                "metric": self.tier_metric_label,
                "value": self.tier.value,
                "current": self.tier.current.name if self.tier.current else None,
                "next": self.tier.next.name if self.tier.next else None,
                "missing": self.tier.missing,
            },
        }

    tier_metric_label: str = "units"


def find_participant(session: Session, code: str) -> tuple[str, Rep | None, Partner] | None:
    code = code.strip().upper()
    rep = session.execute(
        sa.select(Rep).where(sa.func.upper(col(Rep.code)) == code)
    ).scalar_one_or_none()
    if rep is not None:
        partner = session.get(Partner, rep.partner_id)
        assert partner is not None
        return "rep", rep, partner
    partner = session.execute(
        sa.select(Partner).where(sa.func.upper(col(Partner.code)) == code)
    ).scalar_one_or_none()
    return ("partner", None, partner) if partner is not None else None


def summarise(session: Session, program: Program, code: str, now: datetime) -> Summary | None:
    found = find_participant(session, code)
    if found is None:
        return None
    kind, rep, partner = found
    rules = rules_of(program)
    period = rules.period_of(now)
    pid = rep.id if rep is not None else partner.id
    totals = {
        t.period_key: t
        for t in session.execute(
            sa.select(PeriodTotal).where(
                col(PeriodTotal.program_id) == program.id,
                col(PeriodTotal.kind) == kind,
                col(PeriodTotal.participant_id) == pid,
                col(PeriodTotal.period_key).in_([period.key, ALL_TIME]),
            )
        ).scalars()
    }
    column = col(LedgerEntry.rep_id) if rep is not None else col(LedgerEntry.partner_id)
    balance = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(col(LedgerEntry.points)), 0)).where(
            col(LedgerEntry.program_id) == program.id, column == pid
        )
    ).scalar_one()
    current = totals.get(period.key)
    points, units, revenue, events = (
        (current.points, current.units, current.revenue_minor, current.events)
        if current
        else (0, 0, 0, 0)
    )
    metric_value = {
        TierMetric.UNITS: units,
        TierMetric.POINTS: points,
        TierMetric.REVENUE: revenue // 100,
    }[rules.ladder.metric]
    region = session.get(Region, partner.region_id)
    league = session.get(League, partner.league_id)
    assert region is not None and league is not None
    return Summary(
        kind=kind,
        code=rep.code if rep else partner.code,
        name=rep.name if rep else partner.name,
        partner=partner,
        region=region,
        league=league,
        anonymous=rep.anonymous if rep else partner.anonymous,
        balance=int(balance),
        period=period,
        points=points,
        units=units,
        revenue_minor=revenue,
        events=events,
        all_time_points=totals[ALL_TIME].points if ALL_TIME in totals else 0,
        tier=tier_progress(metric_value, rules.ladder),
        tier_metric_label=rules.ladder.metric.value,
    )
