"""Badges: definitions as data and the rules that say which awards are due.

Plain facts in, awards out. The caller (``app/badges.py``) gathers, per participant, what it
did in each period of the program (points, units, revenue, events per type, challenges won)
and which awards it already holds; ``awards_due`` answers what to add. Top-N finishes are
decided from the final ranking of a closed period (``placement_awards``). Nothing here reads
a clock or a database, so re-evaluating the same facts always gives the same answer, and
"exactly once" is a property of the award key ``(badge, level, participant, period)`` that
the store also enforces with a unique constraint.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from game.ranking import Row, Standing, ranked_window
from game.streaks import StreakRule, streak_of

ALL_TIME = "all"
LEVELS = ("bronze", "silver", "gold")
NAME_LIMIT = 60  # what the artwork is guaranteed to fit
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class Kind(enum.StrEnum):
    FIRST_EVENT = "first_event"  # the first event of a type (first sale, first outlet)
    THRESHOLD = "threshold"  # cumulative units, revenue or points, in a period or all time
    STREAK = "streak"  # consecutive periods meeting a minimum
    TOP_N = "top_n"  # a top-N finish on a board in a closed period
    CHALLENGE_WON = "challenge_won"  # challenges won
    TRAINING = "training"  # trainings (and certifications) completed


class Measure(enum.StrEnum):
    POINTS = "points"
    UNITS = "units"
    REVENUE = "revenue"  # minor currency units
    SALES = "sales"  # sale events (a streak of "sold something every month")


class Window(enum.StrEnum):
    PERIOD = "period"  # within one period
    ALL_TIME = "all"


class Repeat(enum.StrEnum):
    ONCE = "once"  # at most once per participant (and level)
    PER_PERIOD = "period"  # again in every period it is earned


class Audience(enum.StrEnum):
    REP = "rep"
    PARTNER = "partner"


ICONS = ("star", "trophy", "flame", "bolt", "book", "target", "rocket", "crown", "handshake")


@dataclass(frozen=True, slots=True)
class Level:
    name: str  # "" for a badge without levels, else bronze / silver / gold
    threshold: int  # the value to reach; for a top-N badge the N


@dataclass(frozen=True, slots=True)
class Criterion:
    kind: Kind
    threshold: int = 1  # when the badge has no levels
    event_type: str = "sale"  # FIRST_EVENT
    measure: Measure = Measure.UNITS  # THRESHOLD, STREAK
    window: Window = Window.ALL_TIME  # THRESHOLD, TRAINING, CHALLENGE_WON
    minimum: int = 1  # STREAK: what a period needs to count
    board_metric: str = "points"  # TOP_N: points, units or revenue
    board_scope: str = "everyone"  # TOP_N: everyone, or each region's or league's board
    event_types: tuple[str, ...] = ("training", "certification")  # TRAINING


@dataclass(frozen=True, slots=True)
class BadgeDefinition:
    code: str
    name: str
    description: str
    criterion: Criterion
    audience: Audience = Audience.REP
    levels: tuple[Level, ...] = ()
    repeat: Repeat = Repeat.ONCE
    secret: bool = False  # hidden in the gallery until earned
    icon: str = "star"
    # {"id": {"name": ..., "description": ...}}: the badge in other languages.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = definition_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def steps(self) -> tuple[Level, ...]:
        """The levels, or the single implicit one of a badge without levels."""
        return self.levels or (Level("", self.criterion.threshold),)

    def award_period(self, period_key: str) -> str:
        """The period part of the award key: the period for a per-period badge, else "all"."""
        return period_key if self.repeat == Repeat.PER_PERIOD else ALL_TIME

    def localized(self, lang: str) -> tuple[str, str]:
        found = self.translations.get(lang, {})
        return found.get("name") or self.name, found.get("description") or self.description

    def to_data(self) -> dict[str, Any]:
        c = self.criterion
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "audience": self.audience.value,
            "repeat": self.repeat.value,
            "secret": self.secret,
            "icon": self.icon,
            "levels": [{"name": lv.name, "threshold": lv.threshold} for lv in self.levels],
            "criterion": {
                "kind": c.kind.value,
                "threshold": c.threshold,
                "event_type": c.event_type,
                "measure": c.measure.value,
                "window": c.window.value,
                "minimum": c.minimum,
                "board_metric": c.board_metric,
                "board_scope": c.board_scope,
                "event_types": list(c.event_types),
            },
            "translations": {k: dict(v) for k, v in self.translations.items()},
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BadgeDefinition:
        """A definition from stored or submitted data; ValueError says what is wrong."""
        try:
            raw = dict(data.get("criterion") or {})
            criterion = Criterion(
                kind=Kind(raw.get("kind", "")),
                threshold=int(raw.get("threshold", 1)),
                event_type=str(raw.get("event_type", "sale")),
                measure=Measure(raw.get("measure", "units")),
                window=Window(raw.get("window", "all")),
                minimum=int(raw.get("minimum", 1)),
                board_metric=str(raw.get("board_metric", "points")),
                board_scope=str(raw.get("board_scope", "everyone")),
                event_types=tuple(raw.get("event_types") or ("training", "certification")),
            )
            return cls(
                code=str(data.get("code", "")),
                name=str(data.get("name", "")),
                description=str(data.get("description", "")),
                criterion=criterion,
                audience=Audience(data.get("audience", "rep")),
                levels=tuple(
                    Level(str(lv["name"]), int(lv["threshold"])) for lv in data.get("levels") or ()
                ),
                repeat=Repeat(data.get("repeat", "once")),
                secret=bool(data.get("secret", False)),
                icon=str(data.get("icon", "star")),
                translations={
                    str(k): {str(a): str(b) for a, b in v.items()}
                    for k, v in (data.get("translations") or {}).items()
                },
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the badge definition is incomplete ({exc})") from None
        except ValueError as exc:
            if "is not a valid" in str(exc):  # an enum: say which values are allowed
                raise ValueError(_enum_sentence(str(exc))) from None
            raise


def _enum_sentence(message: str) -> str:
    for enum_cls in (Kind, Measure, Window, Repeat, Audience):
        if enum_cls.__name__ in message:
            allowed = ", ".join(m.value for m in enum_cls)
            return f"{message.split(' is not')[0]} is not a {enum_cls.__name__.lower()}; use one of {allowed}"
    return message


def definition_problems(d: BadgeDefinition) -> list[str]:
    """Every reason this definition cannot be used, as sentences (empty when it can)."""
    out: list[str] = []
    c = d.criterion
    if not _CODE.fullmatch(d.code):
        out.append("the code must be 1-40 lower-case letters, digits or dashes, e.g. first-sale")
    if not d.name.strip():
        out.append("the badge needs a name")
    elif len(d.name) > NAME_LIMIT:
        out.append(f"the name has {len(d.name)} characters; keep it to {NAME_LIMIT}")
    if len(d.description) > 500:
        out.append("the description is longer than 500 characters")
    if d.icon not in ICONS:
        out.append(f"unknown icon '{d.icon}'; use one of {', '.join(ICONS)}")
    names = [lv.name for lv in d.levels]
    if any(n not in LEVELS for n in names):
        out.append("levels are bronze, silver and gold")
    elif names != sorted(names, key=LEVELS.index) or len(set(names)) != len(names):
        out.append("list each level once, in the order bronze, silver, gold")
    thresholds = [lv.threshold for lv in d.steps]
    if any(t < 1 for t in thresholds):
        out.append("every threshold must be at least 1")
    # A top-N badge's gold is the smallest N (top 1); every other badge's gold is the most.
    ordered = sorted(thresholds, reverse=c.kind == Kind.TOP_N)
    if thresholds != ordered or len(set(thresholds)) != len(thresholds):
        out.append(
            "a higher level needs a smaller N (gold = top 1)"
            if c.kind == Kind.TOP_N
            else "each level needs a higher threshold than the one before"
        )
    if c.kind == Kind.THRESHOLD and c.measure == Measure.SALES:
        out.append("a threshold badge counts points, units or revenue")
    if c.kind == Kind.STREAK and c.minimum < 1:
        out.append("a streak needs a minimum of at least 1 per period")
    if c.kind == Kind.TOP_N:
        if c.board_metric not in ("points", "units", "revenue"):
            out.append("a top-N badge ranks by points, units or revenue")
        if c.board_scope not in ("everyone", "region", "league"):
            out.append("a top-N badge ranks everyone, or each region or league on its own")
    if c.kind == Kind.TRAINING and not c.event_types:
        out.append("say which event types count as training")
    if d.repeat == Repeat.PER_PERIOD and c.kind in (Kind.FIRST_EVENT,):
        out.append("a first event happens once; make this badge once")
    if (
        d.repeat == Repeat.PER_PERIOD
        and c.kind in (Kind.THRESHOLD, Kind.TRAINING, Kind.CHALLENGE_WON)
        and c.window == Window.ALL_TIME
    ):
        out.append("a badge earned again every period must count within the period")
    return out


# --- facts and awards ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """What a participant did in one period (net of reversals)."""

    points: int = 0
    units: int = 0
    revenue: int = 0
    events: Mapping[str, int] = field(default_factory=dict)  # by event type
    challenges_won: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    kind: Audience
    participant_id: int
    periods: Mapping[str, PeriodFigures]  # by period key; a period without activity may be absent
    # Every period of the program up to the latest one to evaluate, oldest first: streaks and
    # "first reached in" walk this order, and a period missing from ``periods`` counts as zero.
    period_order: Sequence[str]
    held: frozenset[tuple[str, str, str]] = frozenset()  # (badge code, level, award period)
    last_is_open: bool = True  # the last period of ``period_order`` is still running


@dataclass(frozen=True, slots=True)
class Award:
    code: str
    level: str
    kind: Audience
    participant_id: int
    period_key: str  # the award key's period: a period, or "all"
    earned_in: str  # the period in which it was reached
    place: int | None = None  # the rank, for a top-N finish

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.code, self.level, self.period_key)


def _value(c: Criterion, fig: PeriodFigures) -> int:
    match c.kind:
        case Kind.FIRST_EVENT:
            return fig.events.get(c.event_type, 0)
        case Kind.TRAINING:
            return sum(fig.events.get(t, 0) for t in c.event_types)
        case Kind.CHALLENGE_WON:
            return fig.challenges_won
        case _:
            match c.measure:
                case Measure.POINTS:
                    return fig.points
                case Measure.UNITS:
                    return fig.units
                case Measure.REVENUE:
                    return fig.revenue
                case Measure.SALES:
                    return fig.events.get("sale", 0)
    return 0


def _series(d: BadgeDefinition, facts: Facts) -> list[int]:
    empty = PeriodFigures()
    return [_value(d.criterion, facts.periods.get(k, empty)) for k in facts.period_order]


def _reached(d: BadgeDefinition, facts: Facts) -> list[tuple[Level, str]]:
    """Every (level, period) in which the criterion was met: the first period for a badge
    counted all-time, each qualifying period for one counted per period."""
    c = d.criterion
    order = facts.period_order
    values = _series(d, facts)
    out: list[tuple[Level, str]] = []
    if c.kind == Kind.STREAK:
        rule = StreakRule(min_events=c.minimum)
        for level in d.steps:
            for i, key in enumerate(order):
                # The run ending at period i (a streak_of over the prefix): the period in which
                # a streak of the level's length was first completed, then every later one
                # that keeps it going (a per-period badge is earned again in each).
                run = streak_of(values[: i + 1], rule).current
                if run >= level.threshold:
                    out.append((level, key))
                    if d.repeat == Repeat.ONCE:
                        break
        return out
    if c.kind == Kind.FIRST_EVENT or c.window == Window.ALL_TIME:
        for level in d.steps:
            total = 0
            for key, value in zip(order, values, strict=True):
                total += value
                if total >= level.threshold:
                    out.append((level, key))
                    break
        return out
    for level in d.steps:  # within one period
        for key, value in zip(order, values, strict=True):
            if value >= level.threshold:
                out.append((level, key))
                if d.repeat == Repeat.ONCE:
                    break
    return out


def awards_due(definitions: Iterable[BadgeDefinition], facts: Facts) -> list[Award]:
    """The awards ``facts`` earn that are not held yet (top-N finishes excepted: those are
    decided when a period closes, by ``placement_awards``). Every level reached is awarded:
    a rep who jumps straight past gold gets bronze and silver too, as each was reached."""
    out: list[Award] = []
    seen = set(facts.held)
    for d in definitions:
        if d.audience != facts.kind or d.criterion.kind == Kind.TOP_N:
            continue
        for level, period_key in _reached(d, facts):
            award = Award(
                d.code,
                level.name,
                facts.kind,
                facts.participant_id,
                d.award_period(period_key),
                period_key,
            )
            if award.key not in seen:
                seen.add(award.key)
                out.append(award)
    return out


def final_standings(rows: Iterable[Row]) -> list[Standing]:
    """A closed period's final ranking: standard competition ranking, and within a tie the
    first to reach the value first (``game.ranking``'s rule: value desc, seq asc, id asc)."""
    ordered = sorted(rows, key=lambda r: (-r[1], r[2], r[0]))
    return ranked_window(ordered, 0, 1)


def placement_awards(
    d: BadgeDefinition,
    standings: Sequence[Standing],
    period_key: str,
    held: frozenset[tuple[int, str, str]] = frozenset(),
) -> list[Award]:
    """Top-N awards from a closed period's final standings on one board.

    Rank, not list position, decides: two reps tied for 3rd both finished 3rd, so both earn
    a top-3 badge (a badge is recognition, not a prize to split). Only the best level reached
    is awarded (a winner is "top 1", not also "top 3" and "top 10"), and a participant with
    nothing on the board (value 0 or less) has finished nowhere. ``held`` holds
    (participant id, level, award period) already awarded."""
    if d.criterion.kind != Kind.TOP_N:
        return []
    worst = max(lv.threshold for lv in d.steps)
    out: list[Award] = []
    for st in standings:
        if st.rank > worst:
            break
        if st.value <= 0:
            continue
        best = min((lv for lv in d.steps if st.rank <= lv.threshold), key=lambda lv: lv.threshold)
        award_period = d.award_period(period_key)
        if (st.participant_id, best.name, award_period) in held:
            continue
        out.append(
            Award(
                d.code,
                best.name,
                d.audience,
                st.participant_id,
                award_period,
                period_key,
                place=st.rank,
            )
        )
    return out


# --- progress ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    value: int  # where the participant stands on the badge's measure
    reached: Level | None  # the best level reached
    next: Level | None  # the next level to reach (None at the top)

    @property
    def missing(self) -> int:
        return 0 if self.next is None else max(0, self.next.threshold - self.value)

    @property
    def percent(self) -> int:
        """0-100 towards the next level, rounded down to a multiple of 5 (a CSS class)."""
        if self.next is None:
            return 100
        share = min(1.0, max(0.0, self.value / self.next.threshold))
        return int(share * 20) * 5


def progress(d: BadgeDefinition, facts: Facts) -> Progress | None:
    """Where a participant stands towards the badge's next level (None for top-N badges, which
    depend on others). All-time badges count the total, per-period ones the latest period,
    streaks the current run."""
    c = d.criterion
    if c.kind == Kind.TOP_N:
        return None
    values = _series(d, facts)
    if c.kind == Kind.STREAK:
        value = streak_of(values, StreakRule(c.minimum), last_is_open=facts.last_is_open).current
    elif c.kind == Kind.FIRST_EVENT or c.window == Window.ALL_TIME:
        value = sum(values)
    else:
        value = values[-1] if values else 0
    reached = None
    for level in d.steps:
        if value >= level.threshold:
            reached = level
        else:
            return Progress(value, reached, level)
    return Progress(value, reached, None)
