"""Ledger rules: points are appended, never edited; a mistake is undone by a reversal."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class EntryKind(enum.StrEnum):
    EARN = "earn"  # points from an event under the scoring rules
    BONUS = "bonus"  # tier bonus, challenge prize, placement award
    REVERSAL = "reversal"  # cancels an earlier entry exactly
    REDEEM = "redeem"  # points spent on a reward
    ADJUSTMENT = "adjustment"  # an explained manual correction


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    kind: EntryKind
    points: int
    reverses: int | None = None


def balance(entries: Iterable[Entry]) -> int:
    return sum(e.points for e in entries)


def reversal_of(entry: Entry, already_reversed: set[int]) -> Entry:
    """The entry that cancels ``entry``; reversing twice or reversing a reversal is refused."""
    if entry.kind == EntryKind.REVERSAL:
        raise ValueError(f"entry {entry.id} is itself a reversal; post a new entry instead")
    if entry.id in already_reversed:
        raise ValueError(f"entry {entry.id} is already reversed")
    return Entry(id=0, kind=EntryKind.REVERSAL, points=-entry.points, reverses=entry.id)


def can_redeem(current_balance: int, cost: int) -> bool:
    """Redeemable points never go below zero."""
    return cost > 0 and current_balance - cost >= 0
