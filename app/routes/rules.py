"""The program rules page: how points are earned, the tiers, the tie rule, as
"if I reach X, I get Y" — every example computed by the same scoring code that scores sales.

Sentences with emphasis live in the template ({% trans %}); the words this module puts in
them (activities, the period, tier thresholds) are translated here with ``app.i18n``.
"""

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
from app.i18n import N_, gettext, ngettext
from app.models import Product
from app.programs import current_program, rules_of
from app.routes.boards import TIE_RULE
from app.routes.pages import base_context
from game.events import ACTIVITY_TYPES, Activity, EventType
from game.periods import Cadence
from game.scoring import score
from game.tiers import Tier, TierLadder, TierMetric

ACTIVITY_LABEL = {
    EventType.TRAINING: N_("completing a training"),
    EventType.CERTIFICATION: N_("earning a certification"),
    EventType.OUTLET_OPENED: N_("opening a new outlet"),
}
# "per month", "Tiers this month", "Each month is a new period".
CADENCE_WORD = {
    Cadence.DAY: N_("day"),
    Cadence.WEEK: N_("week"),
    Cadence.MONTH: N_("month"),
    Cadence.QUARTER: N_("quarter"),
}
# The rule every board prints, plus what it means for prizes. Built from TIE_RULE so the two
# never disagree in English; rules.po translates the whole sentence (a test checks it does).
TIE_RULE_WITH_PRIZES = f"{TIE_RULE.removesuffix('.')} and wins any tie-broken prize."


def plural_of(value: Decimal | int) -> int:
    """The count gettext picks a plural form by: an int; any fraction reads as plural."""
    return int(value) if value == int(value) else 2


def tier_rows(ladder: TierLadder, currency: str, lang: str) -> list[dict[str, Any]]:
    """Each tier as "if you reach X, you are Y (+bonus)", in the reader's words and numbers."""

    def reach(tier: Tier) -> str:
        value = tier.threshold
        if ladder.metric == TierMetric.REVENUE:  # thresholds are whole currency units
            return gettext(
                lang, "%(money)s in sales", money=formatting.money(value * 100, currency, lang)
            )
        count = formatting.number(value, lang)
        if ladder.metric == TierMetric.POINTS:
            return ngettext(lang, "%(count)s point", "%(count)s points", value, count=count)
        return ngettext(lang, "%(count)s unit", "%(count)s units", value, count=count)

    def bonus(tier: Tier) -> str:
        if not tier.bonus_points:
            return "—"
        count = formatting.number(tier.bonus_points, lang)
        return ngettext(
            lang, "+%(count)s point", "+%(count)s points", tier.bonus_points, count=count
        )

    return [{"reach": reach(t), "name": t.name, "bonus": bonus(t)} for t in ladder.tiers]


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
            (gettext(lang, ACTIVITY_LABEL[t]), rules.scoring.activity_points.get(t, 0))
            for t in sorted(ACTIVITY_TYPES)
            if rules.scoring.activity_points.get(t, 0)
        ]
        return {
            "program": program,
            "rules": rules,
            "examples": examples,
            "activities": activities,
            "launch_skus": sorted(launches),
            "tiers": tier_rows(rules.ladder, program.currency, lang),
            "cadence": gettext(lang, CADENCE_WORD[rules.cadence]),
        }

    context.update(await run_in_threadpool(load))
    program = context.get("program")
    if program is not None:
        context["fmt_money"] = lambda minor: formatting.money(minor, program.currency, lang)
        context["tie_rule"] = gettext(lang, TIE_RULE_WITH_PRIZES)
        context["plural_of"] = plural_of
    response = render(request, "rules.html", context)
    # Anyone may open this page: its language follows Accept-Language, so caches must too.
    response.headers["Vary"] += ", Accept-Language"
    return response


routes = [Route("/rules", rules_page, methods=["GET"])]
