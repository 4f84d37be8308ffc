"""Personal alerts: who overtook whom, who moved up, who reached a tier, and how often a
participant may be told. Pure: standings and timestamps come in, decisions go out.

A board's list order is (value desc, seq asc, participant id asc) (see ``game.ranking``), so
whether X is ahead of Y is a comparison of their sort keys: no full before/after snapshot of
the board is needed, only the places of the participants that moved and of those they may
have passed (participants that did not move keep their key).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from game.tiers import Tier, TierLadder

TOP = 10  # entering the top this many is worth telling, wherever you came from
DEFAULT_MIN_SECONDS = 60.0  # at most one alert per participant per this many seconds


@dataclass(frozen=True, slots=True)
class Place:
    """Where a participant stands on one board (a subset of ``game.ranking.Standing``)."""

    participant_id: int
    value: int
    seq: int
    rank: int


class Kind(enum.StrEnum):
    # Declared in priority order: one change yields at most one alert per participant.
    TIER = "tier"
    MOVED_UP = "moved_up"
    PASSED_YOU = "passed_you"


@dataclass(frozen=True, slots=True)
class Alert:
    recipient: int
    kind: Kind
    rank: int  # the recipient's rank now
    by: int | None = None  # PASSED_YOU: who passed the recipient
    tier: str | None = None  # TIER: the tier reached


def _key(place: Place) -> tuple[int, int, int]:
    return (-place.value, place.seq, place.participant_id)


def overtakes(
    before: Mapping[int, Place | None], after: Mapping[int, Place], others: Iterable[Place]
) -> list[tuple[int, int]]:
    """(overtaker, overtaken) pairs for one change of a board.

    ``before`` holds the movers' places before the change (None: not on the board yet, i.e.
    behind everyone); ``after`` their places now; ``others`` the current places of whoever
    they may have passed. A participant absent from ``before`` did not move, so its place is
    the same before and after."""
    candidates = {p.participant_id: p for p in others}
    candidates.update(after)
    pairs: list[tuple[int, int]] = []
    for mover, was in before.items():
        now = after.get(mover)
        if now is None:
            continue
        for other, other_now in candidates.items():
            if other == mover:
                continue
            other_was = before.get(other, other_now)
            if other_was is None:  # newly on the board: it was passed by nobody
                continue
            was_behind = was is None or _key(was) > _key(other_was)
            if was_behind and _key(now) < _key(other_now):
                pairs.append((mover, other))
    return pairs


def moved_up(was: Place | None, now: Place, top: int = TOP) -> bool:
    """A better rank is news when you were already on the board, or when it puts you in the
    top: a first sale far down the board is not."""
    if was is None:
        return now.rank <= top
    return now.rank < was.rank


def tier_reached(ladder: TierLadder, was: int, now: int) -> Tier | None:
    """The highest tier whose threshold lies in (was, now]: crossed by this change."""
    crossed = [t for t in ladder.tiers if was < t.threshold <= now]
    return crossed[-1] if crossed else None


def decide(
    before: Mapping[int, Place | None],
    after: Mapping[int, Place],
    others: Iterable[Place],
    ladder: TierLadder | None = None,
    tier_values: Mapping[int, tuple[int, int]] | None = None,
    top: int = TOP,
) -> list[Alert]:
    """At most one alert per participant for one change of the ranked board.

    ``tier_values`` maps a mover to its (before, after) value of the ladder's metric."""
    others = list(others)
    found: dict[int, Alert] = {}

    def offer(alert: Alert) -> None:
        held = found.get(alert.recipient)
        order = list(Kind)
        if held is None or order.index(alert.kind) < order.index(held.kind):
            found[alert.recipient] = alert

    places = {p.participant_id: p for p in others}
    places.update(after)
    for mover, other in overtakes(before, after, others):
        passed = places[other]
        held = found.get(other)
        # Passed by several: name the one now just ahead (the one to catch first).
        if held is None or held.by is None or _key(places[held.by]) < _key(places[mover]):
            found[other] = Alert(other, Kind.PASSED_YOU, passed.rank, by=mover)
    for mover, was in before.items():
        now = after.get(mover)
        if now is not None and moved_up(was, now, top):
            offer(Alert(mover, Kind.MOVED_UP, now.rank))
    if ladder is not None and tier_values:
        for mover, (was_value, now_value) in tier_values.items():
            tier = tier_reached(ladder, was_value, now_value)
            now = places.get(mover)
            if tier is not None and now is not None:
                offer(Alert(mover, Kind.TIER, now.rank, tier=tier.name))
    return sorted(found.values(), key=lambda a: a.recipient)


def throttle(
    alerts: Iterable[Alert], last_sent: Mapping[int, float], now: float, min_seconds: float
) -> list[Alert]:
    """The alerts that may go out at ``now``: a participant told less than ``min_seconds``
    ago is not told again (the caller records what it sends)."""
    return [
        a
        for a in alerts
        if a.recipient not in last_sent or now - last_sent[a.recipient] >= min_seconds
    ]


def toast_text(alert: Alert, names: Mapping[int, tuple[str | None, str | None]]) -> str:
    """The sentence a participant reads. ``names`` gives (name, partner) of whoever passed
    them; None for a participant who chose to stay anonymous."""
    if alert.kind == Kind.TIER:
        return f"You reached {alert.tier}"
    if alert.kind == Kind.MOVED_UP:
        return f"You moved up to #{alert.rank}"
    name, partner = names.get(alert.by, (None, None)) if alert.by is not None else (None, None)
    who = "Someone" if name is None else name if partner is None else f"{name} from {partner}"
    return f"{who} passed you: you are now #{alert.rank}"
