"""Numbers, money and dates the way the reader's locale writes them (Babel)."""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

SUPPORTED = ("en", "id")


@functools.cache
def babel_locale(language: str) -> Locale:
    # Cached: parsing a locale costs more than formatting a number with it.
    return Locale.parse("id_ID" if language == "id" else "en_US")


def number(value: int | float, language: str) -> str:
    return format_decimal(value, locale=babel_locale(language))


def money(minor: int, currency: str, language: str) -> str:
    """Rp 1.250.000 in Indonesian; whole units for currencies people count without cents."""
    amount = minor / 100
    whole = currency in {"IDR", "JPY", "KRW", "VND"}
    pattern = "¤ #,##0" if whole else None
    return format_currency(
        round(amount) if whole else amount,
        currency,
        format=pattern,
        locale=babel_locale(language),
        currency_digits=not whole,
    ).replace("\xa0", " ")


def day(value: date | datetime, language: str, zone: str | None = None) -> str:
    """A calendar day; an instant is first placed in ``zone`` (the program's)."""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(zone or "UTC")).date()
    return format_date(value, "medium", locale=babel_locale(language))


def moment(value: datetime, zone: str, language: str) -> str:
    return format_datetime(
        value.astimezone(ZoneInfo(zone)),
        "medium",
        tzinfo=ZoneInfo(zone),
        locale=babel_locale(language),
    )
