"""What a participant did, in the domain's terms, and how an invoice line is recognised."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple


class EventType(enum.StrEnum):
    SALE = "sale"
    TRAINING = "training"
    CERTIFICATION = "certification"
    OUTLET_OPENED = "outlet_opened"


ACTIVITY_TYPES = frozenset({EventType.TRAINING, EventType.CERTIFICATION, EventType.OUTLET_OPENED})

# Limits a person would call absurd for one invoice line; they catch unit/amount mix-ups
# (amount typed into units, an extra three zeros) before they reach the ledger.
MAX_UNITS_PER_LINE = 100_000
MAX_AMOUNT_PER_LINE = Decimal("1000000000000")  # one trillion in the program currency


class Activity(NamedTuple):
    """The scoring-relevant part of an event (a tuple: built once per event on the hot path)."""

    type: EventType
    occurred_at: datetime
    sku: str | None = None
    units: int = 0
    amount: Decimal = Decimal(0)


_SEPARATORS = re.compile(r"[\s\-_/.#]+")
_DIGIT_RUN = re.compile(r"\d+")


def normalise_invoice(invoice: str) -> str:
    """Canonical form of an invoice number, so ``inv-0042``, ``INV 42`` and ``Inv/00042`` match.

    Case is folded, separators and spaces are dropped, and leading zeros of every digit run
    are removed (ERP exports and hand-typed claims differ exactly in these ways).
    """
    folded = _SEPARATORS.sub("", invoice.strip().casefold())
    return _DIGIT_RUN.sub(lambda m: m.group().lstrip("0") or "0", folded)


def invoice_line_key(invoice: str, sku: str) -> str:
    """One sale line: the same invoice and SKU claimed twice is the same sale."""
    return f"{normalise_invoice(invoice)}|{sku.strip().upper()}"
