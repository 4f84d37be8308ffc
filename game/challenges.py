"""Challenges (SPIFs): who is in one, what an event adds to it, and who wins.

A challenge counts one metric (units or revenue of chosen SKUs, points, or events of a type)
for one audience (reps or partners) inside a window ``[starts_at, ends_at)`` of ``occurred_at``
instants. Five kinds decide the winners:

- reach a target: everyone whose value reaches the target wins;
- race: the first N to reach the target win, in the order they reached it;
- top N at the end: the first N in standings order win;
- team vs team: the team with the best total (or average per member) wins, all its
  contributing members with it;
- head-to-head: in each pair, the higher value wins.

Ties follow the program's rule: equal values share a rank (1, 2, 2, 4) and whoever reached the
value first is listed first and wins a tie-broken prize. "First" is the ``seq`` of the ledger
entry that last changed the value (lower = earlier); the participant id settles the rest.
Nobody wins with nothing: a zero value never wins a top N, a team or a pair.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo


class ChallengeKind(enum.StrEnum):
    TARGET = "target"
    RACE = "race"
    TOP = "top"
    TEAM = "team"
    H2H = "h2h"


class ChallengeMetric(enum.StrEnum):
    UNITS = "units"
    REVENUE = "revenue"
    POINTS = "points"
    EVENTS = "events"


class Status(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    SETTLED = "settled"
    CANCELLED = "cancelled"


# Where each status may go. Ending early is live -> ended; cancelling pays nothing.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.SCHEDULED, Status.CANCELLED}),
    Status.SCHEDULED: frozenset({Status.LIVE, Status.CANCELLED}),
    Status.LIVE: frozenset({Status.ENDED, Status.CANCELLED}),
    Status.ENDED: frozenset({Status.SETTLED}),
    Status.SETTLED: frozenset(),
    Status.CANCELLED: frozenset(),
}
# Statuses whose challenges take progress: a scheduled one already knows its window, and an
# ended one still takes late events that occurred inside the window until it is settled.
TRACKED = frozenset({Status.SCHEDULED, Status.LIVE, Status.ENDED})


class TeamBy(enum.StrEnum):
    PARTNER = "partner"  # each partner company is a team of its reps
    CUSTOM = "custom"  # teams listed by name


class TeamScore(enum.StrEnum):
    TOTAL = "total"
    AVERAGE = "average"  # per member, so team size does not decide


def can_move(current: Status, wanted: Status) -> bool:
    return wanted in TRANSITIONS[current]


def status_at(status: Status, starts_at: datetime, ends_at: datetime, now: datetime) -> Status:
    """Where a launched challenge should be at ``now``: the scheduler's one rule."""
    if status == Status.SCHEDULED and starts_at <= now:
        status = Status.LIVE
    if status == Status.LIVE and ends_at <= now:
        status = Status.ENDED
    return status


# --- windows in the program's zone -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """``[starts_at, ends_at)`` in UTC: an event exactly at the start counts, one exactly at
    the end does not (it belongs to whatever comes next)."""

    starts_at: datetime
    ends_at: datetime

    def contains(self, instant: datetime) -> bool:
        return self.starts_at <= instant < self.ends_at


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as a UTC instant. A time that occurs twice (clocks set
    back) is its first occurrence; a time that never occurs (clocks set forward) is the
    instant the clocks jumped, the first that exists after it."""
    naive = local.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 maps with the offset after the jump, which lands before the jump; the
    # jump itself is the later of the two readings' transitions, found by stepping forward.
    later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, later), max(first, later)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) < naive:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def window_in_zone(starts: datetime, ends: datetime, zone: ZoneInfo) -> Window:
    """The window between two wall-clock times of the program's zone."""
    return Window(local_to_utc(starts, zone), local_to_utc(ends, zone))


def day_window(first_day: datetime, last_day: datetime, zone: ZoneInfo) -> Window:
    """Whole local days, first to last inclusive (what "1 to 7 December" means to a person)."""
    return window_in_zone(
        datetime.combine(first_day.date(), time(0)),
        datetime.combine(last_day.date() + timedelta(days=1), time(0)),
        zone,
    )


# --- the definition and its checks ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """A definition mistake: the form field, and an English message with ``%(name)s`` values
    (the app translates it)."""

    where: str
    message: str
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Definition:
    """What the form says, already resolved to ids (codes were looked up by the app)."""

    name: str
    kind: ChallengeKind
    metric: ChallengeMetric
    window: Window
    region_ids: frozenset[int] = frozenset()
    league_ids: frozenset[int] = frozenset()
    partner_ids: frozenset[int] = frozenset()
    target: int | None = None
    winners: int | None = None
    team_by: TeamBy | None = None
    teams: Mapping[str, frozenset[int]] = field(default_factory=dict)
    pairs: Sequence[tuple[int, int]] = ()
    skus: frozenset[str] = frozenset()
    event_type: str | None = None
    reward_points: int = 0
    reward_badge: str | None = None

    @property
    def explicit_members(self) -> frozenset[int]:
        """Participants named one by one (custom teams, pairs); empty when the scope decides."""
        if self.kind == ChallengeKind.H2H:
            return frozenset(p for pair in self.pairs for p in pair)
        if self.kind == ChallengeKind.TEAM and self.team_by == TeamBy.CUSTOM:
            return frozenset(m for members in self.teams.values() for m in members)
        return frozenset()


MAX_WINDOW = timedelta(days=366)
START_GRACE = timedelta(minutes=5)  # "start now" typed a few minutes ago is still now


def check_definition(
    d: Definition,
    now: datetime,
    allowed_regions: frozenset[int] | None,
    regions_of_partners: Mapping[int, int],
) -> list[Problem]:
    """Every mistake at once, so the manager fixes the form in one go. ``allowed_regions`` is
    None for a program admin; ``regions_of_partners`` maps each named partner to its region."""
    problems: list[Problem] = []
    if not d.name.strip():
        problems.append(Problem("name", "Give the challenge a name."))
    if d.window.ends_at <= d.window.starts_at:
        problems.append(Problem("ends", "The end must be after the start."))
    elif d.window.ends_at - d.window.starts_at > MAX_WINDOW:
        problems.append(Problem("ends", "A challenge can last at most a year."))
    if d.window.starts_at < now - START_GRACE:
        problems.append(Problem("starts", "The start is in the past; start now or later."))
    if not (d.region_ids or d.league_ids or d.partner_ids or d.explicit_members):
        problems.append(
            Problem("scope", "Choose who takes part: at least one region, league or partner.")
        )
    if allowed_regions is not None:
        foreign_regions = d.region_ids - allowed_regions
        foreign_partners = {p for p, r in regions_of_partners.items() if r not in allowed_regions}
        if foreign_regions or foreign_partners:
            problems.append(
                Problem("scope", "You can only launch challenges in the regions you manage.")
            )
        elif not d.region_ids and not regions_of_partners:
            problems.append(
                Problem("scope", "Choose at least one of your regions or partners in them.")
            )
    if d.kind in (ChallengeKind.TARGET, ChallengeKind.RACE) and not (d.target and d.target > 0):
        problems.append(Problem("target", "Set a target above zero for this kind of challenge."))
    if d.kind in (ChallengeKind.RACE, ChallengeKind.TOP) and not (d.winners and d.winners > 0):
        problems.append(Problem("winners", "Say how many win (at least 1)."))
    if d.kind == ChallengeKind.TEAM:
        if d.team_by is None:
            problems.append(Problem("team_by", "Choose partner companies or custom teams."))
        elif d.team_by == TeamBy.CUSTOM:
            if len(d.teams) < 2:
                problems.append(Problem("teams", "List at least two teams, one per line."))
            seen: set[int] = set()
            for members in d.teams.values():
                if not members:
                    problems.append(Problem("teams", "Every team needs at least one member."))
                    break
                if seen & members:
                    problems.append(Problem("teams", "A participant can be in one team only."))
                    break
                seen |= members
    if d.kind == ChallengeKind.H2H:
        if not d.pairs:
            problems.append(Problem("pairs", "List at least one pair, one per line."))
        named = [p for pair in d.pairs for p in pair]
        if any(a == b for a, b in d.pairs):
            problems.append(Problem("pairs", "A pair needs two different participants."))
        elif len(named) != len(set(named)):
            problems.append(Problem("pairs", "A participant can be in one pair only."))
    if d.metric == ChallengeMetric.EVENTS and d.skus:
        problems.append(Problem("skus", "SKUs apply to units, revenue and points, not events."))
    if d.reward_points < 0:
        problems.append(Problem("reward_points", "Bonus points cannot be negative."))
    return problems


@dataclass(frozen=True, slots=True)
class Existing:
    """Another challenge that might clash with a new one."""

    id: int
    name: str
    kind: str
    metric: str
    scope: tuple[frozenset[int], frozenset[int], frozenset[int]]  # regions, leagues, partners
    window: Window


def duplicate_of(d: Definition, others: Iterable[Existing]) -> Existing | None:
    """An overlapping challenge with the same name, or with the same kind, metric and scope: two
    contests paying twice for the same sales in the same days are a mistake, not a plan."""
    scope = (d.region_ids, d.league_ids, d.partner_ids)
    for other in others:
        overlaps = (
            other.window.starts_at < d.window.ends_at and d.window.starts_at < other.window.ends_at
        )
        if not overlaps:
            continue
        same_name = other.name.strip().casefold() == d.name.strip().casefold()
        same_contest = (
            other.kind == d.kind.value
            and other.metric == d.metric.value
            and other.scope == scope
            and not d.explicit_members
        )
        if same_name or same_contest:
            return other
    return None


# --- progress: what one event adds, and to which challenges ----------------------------------


@dataclass(frozen=True, slots=True)
class Tracked:
    """A challenge as a fold of the ledger needs it: filters and the window, nothing to render."""

    id: int
    audience: str  # "rep" or "partner"
    metric: ChallengeMetric
    window: Window
    region_ids: frozenset[int] = frozenset()
    league_ids: frozenset[int] = frozenset()
    partner_ids: frozenset[int] = frozenset()
    members: frozenset[int] = frozenset()  # explicit participants (custom teams, pairs)
    team_of: Mapping[int, str] = field(default_factory=dict)  # custom teams: member -> team
    team_by_partner: bool = False
    skus: frozenset[str] = frozenset()
    event_type: str | None = None
    target: int | None = None
    opt_in: bool = False

    def admits(self, partner_id: int, region_id: int, league_id: int, rep_id: int | None) -> bool:
        if self.audience == "rep" and rep_id is None:
            return False
        if self.members:
            return (rep_id if self.audience == "rep" else partner_id) in self.members
        if self.partner_ids and partner_id not in self.partner_ids:
            return False
        if self.region_ids and region_id not in self.region_ids:
            return False
        return not (self.league_ids and league_id not in self.league_ids)

    def amount(
        self, event_type: str, sku: str | None, units: int, amount_minor: int, points: int
    ) -> int:
        """What one event adds to a participant's value (0: nothing to record)."""
        if self.metric == ChallengeMetric.EVENTS:
            return 1 if self.event_type in (None, event_type) else 0
        if self.skus and sku not in self.skus:
            return 0
        if self.metric == ChallengeMetric.UNITS:
            return units
        if self.metric == ChallengeMetric.REVENUE:
            return amount_minor
        return points

    def team(self, partner_id: int, participant_id: int) -> str:
        if self.team_by_partner:
            return str(partner_id)
        return self.team_of.get(participant_id, "")


RowKey = tuple[int, str, int]
"""(challenge id, kind, participant id): one participant's progress in one challenge."""

Admitted = tuple[Tracked, RowKey, str]
"""A challenge that admits a participant: (challenge, its progress row's key, team). The key
is made once per participant here, not once per entry by the fold's loop."""


class ChallengeIndex:
    """The tracked challenges of a program, bucketed by their most selective filter, so an
    event looks only at the challenges that could possibly care about it (a hundred live
    challenges cost an event a few dict lookups, not a hundred checks).

    Which challenges admit a participant (scope, members, audience) and its team in each do not
    depend on the event, so they are worked out once per participant and remembered (up to
    ``remember`` participants); an event then costs a window check and an amount for each
    challenge that admits it. Build a new index when a challenge changes."""

    def __init__(self, challenges: Iterable[Tracked], remember: int = 200_000) -> None:
        self.challenges = tuple(challenges)
        self._remember = remember
        self._by_rep: dict[int, list[Tracked]] = {}
        self._by_partner: dict[int, list[Tracked]] = {}
        self._by_region: dict[int, list[Tracked]] = {}
        self._open: list[Tracked] = []
        for c in self.challenges:
            if c.members:
                bucket = self._by_rep if c.audience == "rep" else self._by_partner
                for member in c.members:
                    bucket.setdefault(member, []).append(c)
            elif c.partner_ids:
                for partner in c.partner_ids:
                    self._by_partner.setdefault(partner, []).append(c)
            elif c.region_ids:
                for region in c.region_ids:
                    self._by_region.setdefault(region, []).append(c)
            else:
                self._open.append(c)
        self._admitting: dict[tuple[int, int, int, int | None], tuple[Admitted, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.challenges)

    def admitting(
        self, partner_id: int, region_id: int, league_id: int, rep_id: int | None
    ) -> tuple[Admitted, ...]:
        key = (partner_id, region_id, league_id, rep_id)
        found = self._admitting.get(key)
        if found is None:
            if len(self._admitting) >= self._remember:
                self._admitting.clear()
            empty: list[Tracked] = []
            candidates = (
                self._by_partner.get(partner_id, empty)
                + self._by_region.get(region_id, empty)
                + (self._by_rep.get(rep_id, empty) if rep_id is not None else empty)
                + self._open
            )
            found = tuple(
                # A rep challenge never admits an event without a rep (``admits``).
                (c, (c.id, c.audience, who), c.team(partner_id, who))
                for c in candidates
                if c.admits(partner_id, region_id, league_id, rep_id)
                for who in (rep_id if c.audience == "rep" and rep_id is not None else partner_id,)
            )
            self._admitting[key] = found
        return found


FoldRow = tuple[int, int, int | None, str]
"""(value, seq, reached_seq, team): one participant's progress in one challenge."""

Moved = tuple[int, int, int, int]
"""(challenge id, participant id, value, seq): a row of progress that moved."""


class ProgressFold:
    """Challenge progress folded from ledger entries, in entry order: each participant's value
    in each challenge that admits it, the entry that last changed it (the tie rule's "when")
    and the entry with which it reached the target. Progress is derived, never stored while a
    challenge runs: ingestion writes only its ledger entries, and whoever needs standings
    folds the entries after the last one it saw.

    ``joined``: for opt-in challenges, who joined (anyone else's events count for nothing).
    ``tables[challenge id][participant id]`` is a row ``(value, seq, reached_seq, team)``.
    Rows are tuples of plain values, which the garbage collector stops tracking: a fold of a
    million rows costs its collections nothing."""

    def __init__(self, index: ChallengeIndex, joined: Mapping[int, frozenset[int]]) -> None:
        self.index = index
        self.joined = joined
        self.tables: dict[int, dict[int, FoldRow]] = {c.id: {} for c in index.challenges}
        # (kind, participant id) -> the challenges it has a row in: who moved is asked by
        # participant, after every write.
        self.of_participant: dict[tuple[str, int], tuple[int, ...]] = {}
        self.last = 0  # the newest entry folded

    def add(
        self,
        seq: int,
        occurred_at: datetime,
        partner_id: int,
        region_id: int,
        league_id: int,
        rep_id: int | None,
        event_type: str,
        sku: str | None,
        units: int,
        amount_minor: int,
        points: int,
        sign: int = 1,
    ) -> None:
        """One entry; ``sign`` -1 for a reversal (it takes its event's contribution back out,
        and a value that falls below the target loses its reach: the next to reach it wins)."""
        tables = self.tables
        # Windows are in UTC: comparing within one time zone skips an offset lookup per bound.
        when = occurred_at if occurred_at.tzinfo is UTC else occurred_at.astimezone(UTC)
        for c, (cid, kind, who), team in self.index.admitting(
            partner_id, region_id, league_id, rep_id
        ):
            window = c.window
            if not window.starts_at <= when < window.ends_at:  # ``Window.contains``, inlined
                continue
            if c.opt_in and who not in self.joined.get(cid, ()):
                continue
            amount = sign * c.amount(event_type, sku, units, amount_minor, points)
            if amount == 0:
                continue
            table = tables[cid]
            row = table.get(who)
            if row is None:
                value, reached = amount, None
                self.of_participant[kind, who] = (*self.of_participant.get((kind, who), ()), cid)
            else:
                value, reached, team = row[0] + amount, row[2], row[3]
            if c.target is not None:
                if value < c.target:
                    reached = None
                elif reached is None:
                    reached = seq
            table[who] = (value, seq, reached, team)
        if seq > self.last:
            self.last = seq

    def moved(self, participants: Iterable[tuple[str, int]], after: int) -> list[Moved]:
        """(challenge id, participant id, value, seq) of these participants' rows that entries
        after ``after`` changed."""
        out: list[Moved] = []
        tables = self.tables
        for kind, pid in participants:
            for cid in self.of_participant.get((kind, pid), ()):
                value, seq, _, _ = tables[cid][pid]
                if seq > after:
                    out.append((cid, pid, value, seq))
        return out

    def progress(self, challenge_id: int) -> list[Progress]:
        return [
            Progress(pid, value, seq, reached, team)
            for pid, (value, seq, reached, team) in self.tables.get(challenge_id, {}).items()
        ]


# --- winners ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    participant_id: int
    value: int
    seq: int = 0  # the ledger entry that last changed the value
    reached_seq: int | None = None  # the ledger entry with which the target was reached
    team: str = ""


@dataclass(frozen=True, slots=True)
class Placing:
    participant_id: int
    place: int | None  # competition rank (team rank for teams; 1 or 2 in a pair)
    won: bool


@dataclass(frozen=True, slots=True)
class Rule:
    kind: ChallengeKind
    target: int | None = None
    winners: int | None = None
    team_score: TeamScore = TeamScore.TOTAL
    pairs: Sequence[tuple[int, int]] = ()


def standings_order(progress: Iterable[Progress]) -> list[Progress]:
    """Value first, then whoever got there first, then participant id: always the same order."""
    return sorted(progress, key=lambda p: (-p.value, p.seq, p.participant_id))


def competition_places(values: Sequence[Fraction | int]) -> list[int]:
    """Standard competition ranking of values already in descending order: 1, 2, 2, 4."""
    places: list[int] = []
    for i, value in enumerate(values):
        places.append(places[-1] if i and values[i - 1] == value else i + 1)
    return places


@dataclass(frozen=True, slots=True)
class TeamStanding:
    team: str
    score: Fraction  # total, or total / members
    total: int
    members: int
    seq: int  # when the team reached its score: the latest change of a member
    place: int


def team_standings(
    progress: Iterable[Progress], team_sizes: Mapping[str, int], score: TeamScore
) -> list[TeamStanding]:
    """Teams ranked by total or average per member. ``team_sizes`` counts every member (also
    those who sold nothing): an average over the active members only would reward a team
    for hiding its idle members. Teams with no progress yet still appear, at zero."""
    totals: dict[str, int] = dict.fromkeys(team_sizes, 0)
    seqs: dict[str, int] = dict.fromkeys(team_sizes, 0)
    for p in progress:
        totals[p.team] = totals.get(p.team, 0) + p.value
        seqs[p.team] = max(seqs.get(p.team, 0), p.seq)
    rows = []
    for team, total in totals.items():
        members = max(team_sizes.get(team, 1), 1)
        value = Fraction(total, members) if score == TeamScore.AVERAGE else Fraction(total)
        rows.append((team, value, total, members, seqs[team]))
    rows.sort(key=lambda r: (-r[1], r[4], r[0]))
    places = competition_places([r[1] for r in rows])
    return [
        TeamStanding(t, v, tot, m, s, pl)
        for (t, v, tot, m, s), pl in zip(rows, places, strict=True)
    ]


def decide(
    rule: Rule, progress: Sequence[Progress], team_sizes: Mapping[str, int] | None = None
) -> list[Placing]:
    """Every participant's place and whether they won, by the kind's rule and the tie rule."""
    ordered = standings_order(progress)
    places = competition_places([p.value for p in ordered])
    match rule.kind:
        case ChallengeKind.TARGET:
            target = rule.target or 0
            return [
                Placing(p.participant_id, place, target > 0 and p.value >= target)
                for p, place in zip(ordered, places, strict=True)
            ]
        case ChallengeKind.RACE:
            # In the order they reached the target; the first N of those win.
            reached = sorted(
                (p for p in ordered if p.reached_seq is not None),
                key=lambda p: (p.reached_seq, p.participant_id),
            )
            winners = rule.winners or 0
            finishers = {p.participant_id: i + 1 for i, p in enumerate(reached)}
            return [
                Placing(
                    p.participant_id,
                    finishers.get(p.participant_id),
                    finishers.get(p.participant_id, winners + 1) <= winners,
                )
                for p in ordered
            ]
        case ChallengeKind.TOP:
            # The first N in list order: inside a tie at the cut, whoever got there first.
            winners = rule.winners or 0
            return [
                Placing(p.participant_id, place, position < winners and p.value > 0)
                for position, (p, place) in enumerate(zip(ordered, places, strict=True))
            ]
        case ChallengeKind.TEAM:
            sizes = team_sizes or {}
            teams = team_standings(progress, sizes, rule.team_score)
            best = teams[0] if teams and teams[0].score > 0 else None
            team_place = {t.team: t.place for t in teams}
            return [
                Placing(
                    p.participant_id,
                    team_place.get(p.team),
                    best is not None and p.team == best.team and p.value > 0,
                )
                for p in ordered
            ]
        case ChallengeKind.H2H:
            by_id = {p.participant_id: p for p in progress}
            out: list[Placing] = []
            for a, b in rule.pairs:
                pa, pb = by_id.get(a, Progress(a, 0)), by_id.get(b, Progress(b, 0))
                first, second = standings_order([pa, pb])
                if first.value == 0:  # nobody did anything: nobody wins
                    out += [Placing(a, None, False), Placing(b, None, False)]
                    continue
                out += [
                    Placing(first.participant_id, 1, True),
                    Placing(second.participant_id, 2, False),
                ]
            return out
    raise ValueError(f"unknown challenge kind {rule.kind}")  # pragma: no cover


def pair_of(pairs: Sequence[tuple[int, int]], participant_id: int) -> tuple[int, int] | None:
    for pair in pairs:
        if participant_id in pair:
            return pair
    return None


def progress_fraction(value: int, goal: int) -> float:
    """How full a progress bar is, 0..1 (a goal of 0 is an empty bar, never a division)."""
    if goal <= 0:
        return 0.0
    return max(0.0, min(1.0, value / goal))
