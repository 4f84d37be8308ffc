"""Small, explicit test data: a program, a region, a league, partners, reps, products."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.apikeys import create_api_key
from app.db import Database
from app.models import League, Partner, Product, Program, Region, Rep

PROGRAM_START = datetime(2026, 1, 1, tzinfo=UTC)
PROGRAM_END = datetime(2027, 12, 31, tzinfo=UTC)


@dataclass
class World:
    program: Program
    api_key: str


def make_world(
    db: Database,
    partners: int = 2,
    reps_per_partner: int = 2,
    scoring: dict[str, Any] | None = None,
    tiers: dict[str, Any] | None = None,
    timezone: str = "Asia/Jakarta",
    cadence: str = "month",
) -> World:
    with db.write() as s:
        program = Program(
            code="P1",
            name="Juara Elektronik 2026",
            starts_at=PROGRAM_START,
            ends_at=PROGRAM_END,
            cadence=cadence,
            timezone=timezone,
            scoring=scoring if scoring is not None else {"points_per_unit": "10"},
            tiers=tiers
            if tiers is not None
            else {
                "metric": "units",
                "tiers": [
                    {"name": "Bronze", "threshold": 100},
                    {"name": "Silver", "threshold": 250},
                ],
            },
        )
        region = Region(code="JKT", name="Jabodetabek")
        region_b = Region(code="SBY", name="Jawa Timur")
        league = League(code="L", name="Large")
        s.add_all([program, region, region_b, league])
        s.flush()
        for p in range(partners):
            partner = Partner(
                code=f"PT{p:03d}",
                name=f"Toko Maju {p}",
                region_id=(region.id if p % 2 == 0 else region_b.id),
                league_id=league.id,
            )
            s.add(partner)
            s.flush()
            for r in range(reps_per_partner):
                s.add(
                    Rep(
                        code=f"R{p:03d}{r:02d}",
                        name=f"Budi {p}-{r}",
                        email=f"rep{p}_{r}@example.com",
                        partner_id=partner.id,
                    )
                )
        for sku, price in (("TV-55", 8_000_000), ("AC-1PK", 4_500_000), ("RC-01", 600_000)):
            s.add(Product(sku=sku, name=sku, unit_price_minor=price * 100))
        s.flush()
        key = create_api_key(s, program, "erp")
    return World(program=program, api_key=key)


def sale(
    id: str,
    units: int = 1,
    partner: str = "PT000",
    rep: str | None = "R00000",
    sku: str = "TV-55",
    amount: int | str = 1_000_000,
    invoice: str | None = None,
    occurred_at: str = "2026-11-20T10:00:00+07:00",
) -> dict[str, Any]:
    return {
        "id": id,
        "type": "sale",
        "partner": partner,
        "rep": rep,
        "sku": sku,
        "units": units,
        "amount": amount,
        "occurred_at": occurred_at,
        "invoice": invoice or f"INV-{id}",
    }
