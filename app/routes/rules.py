"""The program rules page: how points are earned, the tiers, the tie rule, as
"if I reach X, I get Y" — every example computed by the same scoring code that scores sales."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import formatting
from app.context import render, state_of
from app.models import Product
from app.programs import current_program, rules_of
from app.routes.boards import TIE_RULE
from app.routes.pages import base_context
from game.events import ACTIVITY_TYPES, Activity, EventType
from game.scoring import score

ACTIVITY_LABEL = {
    EventType.TRAINING: "completing a training",
    EventType.CERTIFICATION: "earning a certification",
    EventType.OUTLET_OPENED: "opening a new outlet",
}
# The rule every board prints, plus what it means for prizes.
TIE_RULE_WITH_PRIZES = f"{TIE_RULE.removesuffix('.')} and wins any tie-broken prize."


async def rules_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang: str = context["lang"]

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            if program is None:
                return {"program": None}
            rules = rules_of(program)
            launches = set(rules.scoring.sku_multipliers)
            products = list(
                s.execute(
                    sa.select(Product).order_by(col(Product.unit_price_minor).desc())
                ).scalars()
            )
        # Worked examples: the priciest product, a launch product and the cheapest one.
        picks = [p for p in products if p.sku in launches][:1] + products[:1] + products[-1:]
        seen: set[str] = set()
        examples = []
        for product in picks:
            if product.sku in seen:
                continue
            seen.add(product.sku)
            price = Decimal(product.unit_price_minor) / 100
            result = score(
                Activity(EventType.SALE, datetime.now(UTC), product.sku, 1, price), rules.scoring
            )
            examples.append(
                {
                    "name": product.name,
                    "sku": product.sku,
                    "price_minor": product.unit_price_minor,
                    "points": result.points,
                    "launch": product.sku in launches,
                }
            )
        activities = [
            (ACTIVITY_LABEL[t], rules.scoring.activity_points.get(t, 0))
            for t in sorted(ACTIVITY_TYPES)
            if rules.scoring.activity_points.get(t, 0)
        ]
        return {
            "program": program,
            "rules": rules,
            "examples": examples,
            "activities": activities,
            "launch_skus": sorted(launches),
        }

    context.update(await run_in_threadpool(load))
    program = context.get("program")
    if program is not None:
        context["fmt_money"] = lambda minor: formatting.money(minor, program.currency, lang)
        context["tie_rule"] = TIE_RULE_WITH_PRIZES
    return render(request, "rules.html", context)


routes = [Route("/rules", rules_page, methods=["GET"])]
