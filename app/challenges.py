"""Challenges (SPIFs): defining, launching, tracking, ending and settling contests.

Rules live in ``game.challenges``; this module is the storage and the people around them:

- who may define, see, end or cancel a challenge (a regional manager only in their regions);
- progress, derived from the ledger rather than written per event (``ChallengeProgress``):
  ingestion writes nothing for challenges; each process folds the entries after the last one
  it saw into its programs' challenges, and a settled challenge keeps its final standings;
- the lifecycle on time (``advance_challenges(db, now)``, called by the scheduler and tests);
- settling exactly once: results, bonus points in the ledger and notices are written in one
  transaction that first moves the challenge from ended to settled, so a second settle (another
  process, a retry) finds nothing to do and pays nothing.

People are told through in-app notices (``challenge_notice``): launched, won, ended, cancelled.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.accounts import Role
from app.boards import Leaderboards, Move
from app.db import Database, lock_program_writes
from app.i18n import N_, Refusal, gettext
from app.mail import queue_mail
from app.models import (
    AuditEntry,
    Challenge,
    ChallengeEntry,
    ChallengeNotice,
    ChallengeResult,
    League,
    LedgerEntry,
    Partner,
    Program,
    Region,
    Rep,
    User,
    UserRegion,
)
from app.programs import rules_of
from game.challenges import (
    TRACKED,
    ChallengeIndex,
    ChallengeKind,
    ChallengeMetric,
    Definition,
    Existing,
    FoldRow,
    Problem,
    Progress,
    ProgressFold,
    Rule,
    Status,
    TeamBy,
    TeamScore,
    Tracked,
    Window,
    can_move,
    check_definition,
    decide,
    duplicate_of,
    local_to_utc,
    status_at,
    team_standings,
)
from game.events import EventType
from game.ledger import EntryKind
from game.ranking import Row as RankedRow

log = logging.getLogger(__name__)

MAX_REASON = 500
SUBJECT = "challenge:%d"


class ChallengeError(Refusal):
    """A challenge that cannot be defined or changed as asked; the message says why."""


class ChallengeRefused(ChallengeError):
    """This person may not do this to this challenge (a 403, not a form mistake)."""


class DefinitionInvalid(ChallengeError):
    """The form has mistakes; ``problems`` lists each with its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(N_("The challenge has mistakes; fix them and try again."))
        self.problems = problems


# --- who may do what ----------------------------------------------------------------------------


def may_define(user: User) -> bool:
    return user.role in (Role.REGIONAL_MANAGER, Role.PROGRAM_ADMIN)


def managed_regions(session: Session, user: User) -> frozenset[int] | None:
    """The regions a regional manager runs; None for a program admin (every region)."""
    if user.role == Role.PROGRAM_ADMIN:
        return None
    if user.role != Role.REGIONAL_MANAGER:
        return frozenset()
    return frozenset(
        session.execute(
            sa.select(col(UserRegion.region_id)).where(col(UserRegion.user_id) == user.id)
        ).scalars()
    )


def regions_of(session: Session, challenge: Challenge) -> frozenset[int]:
    """The regions a challenge belongs to: its region filter, or else where its partners (or
    named participants) are. Empty for a program-wide challenge (program admins only)."""
    if challenge.region_ids:
        return frozenset(challenge.region_ids)
    partner_ids = set(challenge.partner_ids)
    members = _explicit_members(challenge)
    if members and challenge.audience == "rep":
        partner_ids |= set(
            session.execute(
                sa.select(col(Rep.partner_id)).where(col(Rep.id).in_(members))
            ).scalars()
        )
    elif members:
        partner_ids |= members
    if not partner_ids:
        return frozenset()
    return frozenset(
        session.execute(
            sa.select(col(Partner.region_id)).where(col(Partner.id).in_(partner_ids))
        ).scalars()
    )


def may_manage(session: Session, user: User, challenge: Challenge) -> bool:
    regions = managed_regions(session, user)
    if regions is None:
        return True
    mine = regions_of(session, challenge)
    return bool(regions) and bool(mine) and mine <= regions


def participant_of(session: Session, user: User, challenge: Challenge) -> tuple[str, int] | None:
    """The rep or partner this person plays as in ``challenge`` (None for staff)."""
    if challenge.audience == "rep":
        return ("rep", user.rep_id) if user.rep_id is not None else None
    partner_id = user.partner_id
    if partner_id is None and user.rep_id is not None:
        rep = session.get(Rep, user.rep_id)
        partner_id = rep.partner_id if rep else None
    return ("partner", partner_id) if partner_id is not None else None


def in_scope(session: Session, challenge: Challenge, kind: str, participant_id: int) -> bool:
    if kind == "rep":
        rep = session.get(Rep, participant_id)
        if rep is None:
            return False
        partner = session.get(Partner, rep.partner_id)
        rep_id: int | None = rep.id
    else:
        partner = session.get(Partner, participant_id)
        rep_id = None
    if partner is None or partner.id is None:
        return False
    return tracked(challenge).admits(partner.id, partner.region_id, partner.league_id, rep_id)


def may_see(session: Session, user: User, challenge: Challenge) -> bool:
    if may_manage(session, user, challenge):
        return True
    if challenge.status in (Status.DRAFT, Status.CANCELLED):
        return False
    me = participant_of(session, user, challenge)
    return me is not None and in_scope(session, challenge, *me)


# --- the definition form -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeForm:
    """What the manager typed, as text (parsing it is part of giving clear errors)."""

    name: str = ""
    description: str = ""
    kind: str = "target"
    audience: str = "rep"
    metric: str = "units"
    skus: str = ""
    event_type: str = ""
    regions: tuple[str, ...] = ()
    leagues: tuple[str, ...] = ()
    partners: str = ""
    target: str = ""
    winners: str = ""
    team_by: str = ""
    team_score: str = "total"
    teams: str = ""
    pairs: str = ""
    starts: str = ""  # YYYY-MM-DDTHH:MM in the program's zone (an <input type=datetime-local>)
    ends: str = ""
    enrolment: str = "auto"
    reward_points: str = "0"
    reward_badge: str = ""


@dataclass
class _Parsed:
    definition: Definition | None
    problems: list[Problem] = field(default_factory=list)
    partner_regions: dict[int, int] = field(default_factory=dict)


_CODES = re.compile(r"[\s,;]+")


def _codes(text: str) -> list[str]:
    return [c.upper() for c in _CODES.split(text.strip()) if c]


def _whole(text: str, where: str, problems: list[Problem]) -> int | None:
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        problems.append(Problem(where, "Enter a whole number, e.g. 50."))
        return None


def _local(text: str, where: str, problems: list[Problem]) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append(Problem(where, "Enter a date and time like 2026-12-01T09:00."))
        return None


def _participant_ids(
    session: Session, audience: str, codes: list[str], where: str, problems: list[Problem]
) -> dict[str, int]:
    model: Any = Rep if audience == "rep" else Partner
    found = {
        code.upper(): pid
        for pid, code in session.execute(
            sa.select(model.id, model.code).where(sa.func.upper(model.code).in_(codes))
        ).all()
    }
    missing = [c for c in codes if c not in found]
    if missing:
        problems.append(
            Problem(
                where,
                "Unknown code(s): %(codes)s. Check the spelling.",
                {"codes": ", ".join(missing)},
            )
        )
    return found


def parse_form(session: Session, program: Program, form: ChallengeForm) -> _Parsed:
    problems: list[Problem] = []
    try:
        kind = ChallengeKind(form.kind)
        metric = ChallengeMetric(form.metric)
        if form.audience not in ("rep", "partner"):
            raise ValueError(form.audience)
        TeamScore(form.team_score or "total")
        if form.enrolment not in ("auto", "opt_in"):
            raise ValueError(form.enrolment)
    except ValueError:
        return _Parsed(
            None,
            [Problem("kind", "Choose the kind, metric, audience and enrolment from the lists.")],
        )
    zone = ZoneInfo(program.timezone)
    starts, ends = _local(form.starts, "starts", problems), _local(form.ends, "ends", problems)
    target = _whole(form.target, "target", problems)
    winners = _whole(form.winners, "winners", problems)
    reward_points = _whole(form.reward_points, "reward_points", problems) or 0

    region_codes = [c.upper() for c in form.regions if c]
    regions = dict(
        session.execute(
            sa.select(col(Region.code), col(Region.id)).where(col(Region.code).in_(region_codes))
        ).all()
    )
    league_codes = [c.upper() for c in form.leagues if c]
    leagues = dict(
        session.execute(
            sa.select(col(League.code), col(League.id)).where(col(League.code).in_(league_codes))
        ).all()
    )
    unknown = [c for c in region_codes if c not in regions] + [
        c for c in league_codes if c not in leagues
    ]
    if unknown:
        problems.append(
            Problem("scope", "Unknown region or league: %(codes)s.", {"codes": ", ".join(unknown)})
        )
    partners = _participant_ids(session, "partner", _codes(form.partners), "partners", problems)

    team_by = (
        TeamBy(form.team_by)
        if kind == ChallengeKind.TEAM and form.team_by in ("partner", "custom")
        else None
    )
    teams: dict[str, frozenset[int]] = {}
    if team_by == TeamBy.CUSTOM:
        for line in form.teams.splitlines():
            if not line.strip():
                continue
            name, sep, listed = line.partition(":")
            if not sep or not name.strip():
                problems.append(Problem("teams", "Write each team as 'Team name: CODE, CODE'."))
                continue
            ids = _participant_ids(session, form.audience, _codes(listed), "teams", problems)
            teams[name.strip()[:40]] = frozenset(ids.values())
    pairs: list[tuple[int, int]] = []
    if kind == ChallengeKind.H2H:
        for line in form.pairs.splitlines():
            if not line.strip():
                continue
            codes = _codes(re.sub(r"(?i)\bvs\b", " ", line))
            if len(codes) != 2:
                problems.append(
                    Problem("pairs", "Write each pair as 'CODE vs CODE', one per line.")
                )
                continue
            ids = _participant_ids(session, form.audience, codes, "pairs", problems)
            if len(ids) == 2:
                pairs.append((ids[codes[0]], ids[codes[1]]))
            elif len(set(codes)) == 1:
                problems.append(Problem("pairs", "A pair needs two different participants."))
    event_type = form.event_type.strip() or None
    if event_type is not None and event_type not in {t.value for t in EventType}:
        problems.append(Problem("event_type", "Choose an event type from the list."))
    skus = frozenset(_codes(form.skus))
    if starts is None or ends is None:
        return _Parsed(None, problems)

    # Partners named anywhere (scope, teams, pairs): the manager must own their regions.
    named_partners = set(partners.values())
    members = {m for ms in teams.values() for m in ms} | {p for pair in pairs for p in pair}
    if form.audience == "partner":
        named_partners |= members
    elif members:
        named_partners |= set(
            session.execute(
                sa.select(col(Rep.partner_id)).where(col(Rep.id).in_(members))
            ).scalars()
        )
    partner_regions = dict(
        session.execute(
            sa.select(col(Partner.id), col(Partner.region_id)).where(
                col(Partner.id).in_(named_partners)
            )
        ).all()
    )
    definition = Definition(
        name=form.name.strip()[:120],
        kind=kind,
        metric=metric,
        window=Window(local_to_utc(starts, zone), local_to_utc(ends, zone)),
        region_ids=frozenset(regions.values()),
        league_ids=frozenset(leagues.values()),
        partner_ids=frozenset(partners.values()),
        target=target,
        winners=winners,
        team_by=team_by,
        teams=teams,
        pairs=pairs,
        skus=skus,
        event_type=event_type if metric == ChallengeMetric.EVENTS else None,
        reward_points=reward_points,
        reward_badge=form.reward_badge.strip()[:40] or None,
    )
    return _Parsed(definition, problems, partner_regions)


def _existing(session: Session, program_id: int) -> list[Existing]:
    rows = session.exec(
        select(Challenge).where(
            col(Challenge.program_id) == program_id,
            col(Challenge.status).in_([s.value for s in (Status.DRAFT, *TRACKED)]),
        )
    ).all()
    return [
        Existing(
            c.id or 0,
            c.name,
            c.kind,
            c.metric,
            (frozenset(c.region_ids), frozenset(c.league_ids), frozenset(c.partner_ids)),
            Window(c.starts_at, c.ends_at),
        )
        for c in rows
    ]


def create_challenge(
    db: Database, program: Program, user: User, form: ChallengeForm, now: datetime, launch: bool
) -> Challenge:
    """Check and store a definition as a draft, or launched (scheduled, live when it starts)."""
    if not may_define(user):
        raise ChallengeRefused(N_("Only regional managers and program admins define challenges."))
    assert program.id is not None
    with db.write() as s:
        lock_program_writes(s, program.id)
        parsed = parse_form(s, program, form)
        problems = list(parsed.problems)
        d = parsed.definition
        if d is not None:
            problems += check_definition(d, now, managed_regions(s, user), parsed.partner_regions)
            if not problems:
                clash = duplicate_of(d, _existing(s, program.id))
                if clash is not None:
                    problems.append(
                        Problem(
                            "name",
                            "“%(name)s” already runs for the same people in overlapping days; "
                            "change the dates, the scope or the name.",
                            {"name": clash.name},
                        )
                    )
        if problems or d is None:
            raise DefinitionInvalid(problems)
        challenge = Challenge(
            program_id=program.id,
            name=d.name,
            description=form.description.strip()[:2000],
            kind=d.kind.value,
            audience=form.audience,
            metric=d.metric.value,
            skus=sorted(d.skus),
            event_type=d.event_type,
            region_ids=sorted(d.region_ids),
            league_ids=sorted(d.league_ids),
            partner_ids=sorted(d.partner_ids),
            team_by=d.team_by.value if d.team_by else None,
            team_score=form.team_score or "total",
            teams=[{"name": n, "members": sorted(m)} for n, m in d.teams.items()],
            pairs=[list(p) for p in d.pairs],
            target=d.target,
            winners=d.winners,
            starts_at=d.window.starts_at,
            ends_at=d.window.ends_at,
            enrolment=form.enrolment,
            reward_points=d.reward_points,
            reward_badge=d.reward_badge,
            created_by=user.id,
            created_at=now,
        )
        s.add(challenge)
        s.flush()
        _audit(s, user, "challenge.create", challenge, {"kind": challenge.kind}, now)
        if launch:
            _launch(s, challenge, user, now)
    return challenge


def _audit(
    s: Session,
    actor: User | None,
    action: str,
    c: Challenge,
    details: dict[str, Any],
    now: datetime,
) -> None:
    assert c.id is not None
    s.add(
        AuditEntry(
            at=now,
            actor_user_id=actor.id if actor else None,
            action=action,
            subject=SUBJECT % c.id,
            details=details,
        )
    )


def _move(c: Challenge, wanted: Status) -> None:
    if not can_move(Status(c.status), wanted):
        raise ChallengeError(
            N_("This challenge is %(status)s; it cannot become %(wanted)s."),
            status=c.status,
            wanted=wanted.value,
        )
    c.status = wanted.value
    c.revision = _next_revision(c)


def _next_revision(c: Challenge) -> int:
    """A revision above every challenge of the program (callers hold the program's write
    lock), so "the newest revision" alone tells ingestion whether anything changed."""
    from sqlalchemy.orm import object_session

    s = object_session(c)
    assert s is not None
    newest = s.execute(
        sa.select(sa.func.max(col(Challenge.revision))).where(
            col(Challenge.program_id) == c.program_id
        )
    ).scalar_one()
    return int(newest or 0) + 1


def _launch(s: Session, c: Challenge, actor: User | None, now: datetime) -> None:
    _move(c, Status.SCHEDULED)
    s.flush()
    _audit(s, actor, "challenge.launch", c, {}, now)
    _notify(s, c, "launched", now)
    _advance_one(s, c, now)


def _load_for(s: Session, user: User, challenge_id: int) -> Challenge:
    c = s.get(Challenge, challenge_id)
    # "No such challenge" for both unknown and not-yours: ids reveal nothing.
    if c is None or not may_see(s, user, c):
        raise ChallengeRefused(N_("No such challenge."))
    if not may_manage(s, user, c):
        raise ChallengeRefused(N_("Only a manager of this challenge's regions can do that."))
    lock_program_writes(s, c.program_id)
    s.refresh(c)
    return c


def launch_challenge(db: Database, challenge_id: int, user: User, now: datetime) -> Challenge:
    with db.write() as s:
        c = _load_for(s, user, challenge_id)
        if c.starts_at < now and c.status == Status.DRAFT:
            # A draft left lying around starts now rather than pretending it started earlier.
            c.starts_at = now
            if c.ends_at <= now:
                raise ChallengeError(N_("This draft's end has passed; define it again."))
        _launch(s, c, user, now)
    return c


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ChallengeError(N_("Give a reason; participants and the audit log will see it."))
    return reason[:MAX_REASON]


def end_challenge(
    db: Database, challenge_id: int, user: User, reason: str, now: datetime
) -> Challenge:
    """End a live challenge now: events after this moment no longer count, winners are paid."""
    why = _reason(reason)
    with db.write() as s:
        c = _load_for(s, user, challenge_id)
        if c.status != Status.LIVE:
            raise ChallengeError(N_("Only a live challenge can be ended early."))
        planned = c.ends_at
        c.ends_at = now
        c.ended_at = now
        c.end_reason = why
        _move(c, Status.ENDED)
        _audit(
            s,
            user,
            "challenge.end_early",
            c,
            {"reason": why, "planned_end": planned.isoformat()},
            now,
        )
    settle_challenge(db, challenge_id, now)
    with db.session() as s:
        found = s.get(Challenge, challenge_id)
        assert found is not None
        return found


def cancel_challenge(
    db: Database, challenge_id: int, user: User, reason: str, now: datetime
) -> Challenge:
    """Call a challenge off: nobody is paid, everyone in it is told why."""
    why = _reason(reason)
    with db.write() as s:
        c = _load_for(s, user, challenge_id)
        _move(c, Status.CANCELLED)
        c.ended_at = now
        c.end_reason = why
        _audit(s, user, "challenge.cancel", c, {"reason": why}, now)
        _notify(s, c, "cancelled", now)
    return c


def join_challenge(db: Database, challenge_id: int, user: User, now: datetime) -> Challenge:
    """Opt in: the participant's events inside the window count from the start, joined late
    or not (the point is to sell more, not to have clicked first)."""
    with db.write() as s:
        c = s.get(Challenge, challenge_id)
        if c is None or not may_see(s, user, c):
            raise ChallengeRefused(N_("No such challenge."))
        me = participant_of(s, user, c)
        if me is None:
            raise ChallengeRefused(N_("Only participants can join a challenge."))
        if c.status not in (Status.SCHEDULED, Status.LIVE):
            raise ChallengeError(N_("This challenge is not open for joining."))
        lock_program_writes(s, c.program_id)
        exists = s.exec(
            select(ChallengeEntry).where(
                col(ChallengeEntry.challenge_id) == c.id,
                col(ChallengeEntry.kind) == me[0],
                col(ChallengeEntry.participant_id) == me[1],
            )
        ).first()
        if exists is None:
            s.add(
                ChallengeEntry(
                    challenge_id=c.id or 0,
                    kind=me[0],
                    participant_id=me[1],
                    team=_team_label(s, c, me[1]),
                    joined_at=now,
                )
            )
            # A new revision: progress is folded again with the joiner's sales since the start,
            # and the challenge's board built again (no new ledger entry says it changed).
            c.revision = _next_revision(c)
            s.flush()
            _audit(s, user, "challenge.join", c, {"participant": f"{me[0]}:{me[1]}"}, now)
    return c


def _team_label(s: Session, c: Challenge, participant_id: int) -> str:
    if c.team_by == TeamBy.PARTNER and c.audience == "rep":
        rep = s.get(Rep, participant_id)
        return str(rep.partner_id) if rep else ""
    for team in c.teams:
        if participant_id in team["members"]:
            return str(team["name"])
    return ""


# --- who counts, and for which team --------------------------------------------------------------


def _explicit_members(c: Challenge) -> set[int]:
    if c.kind == ChallengeKind.H2H:
        return {p for pair in c.pairs for p in pair}
    if c.kind == ChallengeKind.TEAM and c.team_by == TeamBy.CUSTOM:
        return {m for team in c.teams for m in team["members"]}
    return set()


def tracked(c: Challenge) -> Tracked:
    assert c.id is not None
    return Tracked(
        id=c.id,
        audience=c.audience,
        metric=ChallengeMetric(c.metric),
        window=Window(c.starts_at, c.ends_at),
        region_ids=frozenset(c.region_ids),
        league_ids=frozenset(c.league_ids),
        partner_ids=frozenset(c.partner_ids),
        members=frozenset(_explicit_members(c)),
        team_of={m: str(t["name"]) for t in c.teams for m in t["members"]},
        team_by_partner=c.team_by == TeamBy.PARTNER and c.audience == "rep",
        skus=frozenset(c.skus),
        event_type=c.event_type,
        target=c.target,
        opt_in=c.enrolment == "opt_in",
    )


# --- progress, folded from the ledger ----------------------------------------------------------
#
# Nothing is written per event for challenges: ingestion writes its ledger entries and is done.
# A challenge's progress is the fold of the entries inside its window (``game.challenges.
# ProgressFold``); each process keeps its programs' folds and folds the entries after the last
# one it saw whenever progress is read. Entry ids grow in commit order within a program (every
# writer holds the program's write lock), so "after the last one seen" misses nothing. The
# table keeps who joined an opt-in challenge and, once it is settled, its final standings.

_TRACKED_VALUES = tuple(s.value for s in TRACKED)
_FOLDED_KINDS = (EntryKind.EARN.value, EntryKind.REVERSAL.value)


# Plain SQL on the session's DBAPI cursor: the catch-up runs after every write, where
# SQLAlchemy's work per statement (and an ORM session's) would cost more than the statement.
_NEWEST_REVISION_SQL = "SELECT max(revision) FROM challenge WHERE program_id = {0}"
_ENTRIES_SQL = (
    "SELECT le.id, le.occurred_at, le.partner_id, p.region_id, p.league_id, le.rep_id, e.type, "
    "e.sku, e.units, e.amount_minor, le.points, le.kind FROM ledger_entry le "
    "JOIN event e ON e.id = le.event_id JOIN partner p ON p.id = le.partner_id "
    "WHERE le.program_id = {0} AND le.id > {0} "
    f"AND le.kind IN ({', '.join(repr(k) for k in _FOLDED_KINDS)}){{1}} ORDER BY le.id"
)
# A first fold: only up to the newest entry it counts from, only inside the windows.
_WITHIN = " AND le.id <= {0} AND le.occurred_at >= {0} AND le.occurred_at < {0}"


def _utc(stored: Any) -> datetime:
    """A UTCDateTime column as the DBAPI returns it: naive text on SQLite (as ``UTCDateTime``
    stores it), an aware datetime on PostgreSQL."""
    if isinstance(stored, str):
        return datetime.fromisoformat(stored).replace(tzinfo=UTC)
    when: datetime = stored
    return when if when.tzinfo is UTC else when.astimezone(UTC)


def _cursor(conn: sa.Connection) -> tuple[Any, str]:
    """The connection's DBAPI cursor and its placeholder."""
    return conn.connection.cursor(), "?" if conn.dialect.name == "sqlite" else "%s"


def _fold_new(
    fold: ProgressFold, conn: sa.Connection, program_id: int, within: Window | None = None
) -> None:
    """Fold the program's event entries (earned, and reversals of them) after ``fold.last``, in
    ledger order; ``within``: only those inside it, up to the newest entry there is now."""
    cursor, mark = _cursor(conn)
    params: tuple[Any, ...] = (program_id, fold.last)
    extra, newest = "", 0
    if within is not None:
        cursor.execute(f"SELECT max(id) FROM ledger_entry WHERE program_id = {mark}", (program_id,))
        found = cursor.fetchone()
        newest = int(found[0] or 0) if found else 0
        # Bounds as UTCDateTime stores them (``ingest._Rows.instant``): naive text on SQLite.
        bounds = [
            w.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            if mark == "?"
            else w
            for w in (within.starts_at, within.ends_at)
        ]
        params, extra = (*params, newest, *bounds), _WITHIN.format(mark)
    cursor.execute(_ENTRIES_SQL.format(mark, extra), params)
    _fold_entries(fold, ((i, _utc(at), *rest) for i, at, *rest in cursor.fetchall()))
    fold.last = max(fold.last, newest)


def _fold_entries(fold: ProgressFold, entries: Any) -> None:
    add = fold.add
    reversal = EntryKind.REVERSAL.value
    for seq, at, partner, region, league, rep, typ, sku, units, amount, points, kind in entries:
        if kind == reversal:  # the original's contribution, taken back out
            add(seq, at, partner, region, league, rep, typ, sku, units, amount, -points, -1)
        else:
            add(seq, at, partner, region, league, rep, typ, sku, units, amount, points)


def _joined(s: Session, challenges: list[Challenge]) -> dict[int, frozenset[int]]:
    ids = [c.id for c in challenges if c.enrolment == "opt_in"]
    joined: dict[int, set[int]] = {cid: set() for cid in ids if cid is not None}
    if joined:
        for cid, pid in s.execute(
            sa.select(col(ChallengeEntry.challenge_id), col(ChallengeEntry.participant_id)).where(
                col(ChallengeEntry.challenge_id).in_(list(joined)),
                col(ChallengeEntry.joined_at).is_not(None),
            )
        ):
            joined[cid].add(pid)
    return {cid: frozenset(pids) for cid, pids in joined.items()}


def fold_challenges(s: Session, program_id: int, challenges: list[Challenge]) -> ProgressFold:
    """These challenges' progress, folded from the ledger now (in this session's view)."""
    fold = ProgressFold(ChallengeIndex(tracked(c) for c in challenges), _joined(s, challenges))
    if challenges:
        span = Window(min(c.starts_at for c in challenges), max(c.ends_at for c in challenges))
        _fold_new(fold, s.connection(), program_id, within=span)
    return fold


class ChallengeProgress:
    """Each program's tracked challenges' progress in this process: folded from the ledger
    once, then kept up to date by folding the entries after the last one folded. A change to
    any of the program's challenges (launch, join, end: each takes a new, higher revision)
    folds the program's challenges again. Thread-safe: requests and the live hub share it."""

    def __init__(self) -> None:
        # store -> program id -> (the program's newest challenge revision, its fold)
        self._held: weakref.WeakKeyDictionary[Any, dict[int, tuple[int, ProgressFold]]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def _current(self, conn: sa.Connection, program_id: int) -> ProgressFold:
        """The program's fold, brought up to date; the caller holds the lock."""
        cursor, mark = _cursor(conn)
        cursor.execute(_NEWEST_REVISION_SQL.format(mark), (program_id,))
        found = cursor.fetchone()
        newest = int(found[0] or 0) if found else 0
        store = self._held.setdefault(conn.engine, {})
        held = store.get(program_id)
        if held is None or held[0] != newest:
            with Session(bind=conn) as s:  # a challenge changed: fold them all again
                challenges = list(
                    s.exec(
                        select(Challenge).where(
                            col(Challenge.program_id) == program_id,
                            col(Challenge.status).in_(_TRACKED_VALUES),
                        )
                    ).all()
                )
                fold = fold_challenges(s, program_id, challenges)
            store[program_id] = (newest, fold)
            return fold
        fold = held[1]
        if fold.index:
            _fold_new(fold, conn, program_id)
        return fold

    def fold(self, s: Session, program_id: int) -> ProgressFold:
        """The program's fold, brought up to date (for reading while no request folds)."""
        with self._lock:
            return self._current(s.connection(), program_id)

    def progress(self, s: Session, c: Challenge) -> list[Progress]:
        with self._lock:
            return self._current(s.connection(), c.program_id).progress(c.id or 0)

    def rows(self, s: Session, c: Challenge, ids: set[int]) -> dict[int, FoldRow]:
        """Some participants' rows: (value, seq, reached_seq, team)."""
        with self._lock:
            table = self._current(s.connection(), c.program_id).tables.get(c.id or 0, {})
            return {pid: table[pid] for pid in ids if pid in table}

    def moves(
        self, conn: sa.Connection, program_id: int, participants: set[tuple[str, int]], after: int
    ) -> list[Move]:
        """The rows of these participants that entries after ``after`` changed."""
        with self._lock:
            moved = self._current(conn, program_id).moved(participants, after)
        return [(board_of(cid), pid, value, seq) for cid, pid, value, seq in moved]


PROGRESS = ChallengeProgress()


def _settled_rows(s: Session, c: Challenge, progress: list[Progress]) -> None:
    """A settled challenge's final standings, kept: its page reads them from now on."""
    table = ChallengeEntry.__table__  # type: ignore[attr-defined]
    s.execute(
        sa.update(table)
        .where(table.c.challenge_id == c.id)
        .values(value=0, value_seq=0, reached_seq=None)
    )
    if not progress:
        return
    insert = (postgresql_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(
        table
    )
    s.execute(
        insert.on_conflict_do_update(
            index_elements=["challenge_id", "kind", "participant_id"],
            set_={
                "value": insert.excluded.value,
                "value_seq": insert.excluded.value_seq,
                "reached_seq": insert.excluded.reached_seq,
                "team": insert.excluded.team,
            },
        ),
        [
            {
                "challenge_id": c.id,
                "kind": c.audience,
                "participant_id": p.participant_id,
                "team": p.team,
                "value": p.value,
                "value_seq": p.seq,
                "reached_seq": p.reached_seq,
            }
            for p in progress
        ],
    )


# --- on time: start, end, settle ----------------------------------------------------------------


@dataclass
class Advanced:
    started: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)


def _advance_one(s: Session, c: Challenge, now: datetime) -> str | None:
    wanted = status_at(Status(c.status), c.starts_at, c.ends_at, now)
    if wanted == c.status:
        return None
    before = c.status
    if before == Status.SCHEDULED:
        _move(c, Status.LIVE)
    if wanted == Status.ENDED:
        _move(c, Status.ENDED)
        c.ended_at = c.ends_at
    return wanted.value


def advance_challenges(db: Database, now: datetime) -> Advanced:
    """Start what is due, end what is over, settle what ended: the scheduler's job, safe to
    run as often as liked and from several processes (each step is conditional on the status
    it leaves, under the program's write lock)."""
    out = Advanced()
    with db.write() as s:
        due = s.exec(
            select(Challenge).where(
                col(Challenge.status).in_([Status.SCHEDULED.value, Status.LIVE.value]),
                sa.or_(col(Challenge.starts_at) <= now, col(Challenge.ends_at) <= now),
            )
        ).all()
        for program_id in sorted({c.program_id for c in due}):
            lock_program_writes(s, program_id)
        for c in due:
            s.refresh(c)
            before = c.status
            after = _advance_one(s, c, now)
            if after is None:
                continue
            assert c.id is not None
            if before == Status.SCHEDULED:
                out.started.append(c.id)
                _audit(s, None, "challenge.start", c, {}, now)
            if after == Status.ENDED:
                out.ended.append(c.id)
                _audit(s, None, "challenge.end", c, {}, now)
    with db.session() as s:
        ended = list(
            s.execute(
                sa.select(col(Challenge.id)).where(col(Challenge.status) == Status.ENDED.value)
            ).scalars()
        )
    for challenge_id in ended:
        if challenge_id is not None and settle_challenge(db, challenge_id, now):
            out.settled.append(challenge_id)
    return out


def progress_of(s: Session, c: Challenge) -> list[Progress]:
    """Everyone's progress in the challenge: folded from the ledger until it is settled, its
    kept final standings after."""
    if c.status in _TRACKED_VALUES:
        return PROGRESS.progress(s, c)
    if c.status != Status.SETTLED.value:  # a draft or a cancelled challenge: rarely asked
        return fold_challenges(s, c.program_id, [c]).progress(c.id or 0)
    return [
        Progress(pid, value, seq, reached, team)
        for pid, value, seq, reached, team in s.execute(
            sa.select(
                col(ChallengeEntry.participant_id),
                col(ChallengeEntry.value),
                col(ChallengeEntry.value_seq),
                col(ChallengeEntry.reached_seq),
                col(ChallengeEntry.team),
            ).where(col(ChallengeEntry.challenge_id) == c.id)
        ).all()
    ]


def participants_in(s: Session, c: Challenge) -> set[tuple[str, int]]:
    """(kind, id) of everyone in the challenge: those with progress, and those who joined."""
    found = {(c.audience, p.participant_id) for p in progress_of(s, c)}
    joined = s.execute(
        sa.select(col(ChallengeEntry.kind), col(ChallengeEntry.participant_id)).where(
            col(ChallengeEntry.challenge_id) == c.id, col(ChallengeEntry.joined_at).is_not(None)
        )
    )
    return found | {(str(kind), int(pid)) for kind, pid in joined}


def team_sizes(s: Session, c: Challenge) -> dict[str, int]:
    """Members per team, idle ones included (with automatic enrolment, every rep of a team's
    partner company in scope; with opt-in, those who joined)."""
    if c.team_by == TeamBy.CUSTOM:
        return {str(t["name"]): len(t["members"]) for t in c.teams}
    if c.enrolment == "opt_in":
        rows = s.execute(
            sa.select(col(ChallengeEntry.team), sa.func.count())
            .where(col(ChallengeEntry.challenge_id) == c.id)
            .group_by(col(ChallengeEntry.team))
        ).all()
        return {str(team): int(n) for team, n in rows}
    rows = s.execute(
        sa.select(col(Rep.partner_id), sa.func.count())
        .where(col(Rep.partner_id).in_(_scope_partners(c)))
        .group_by(col(Rep.partner_id))
    ).all()
    return {str(pid): int(n) for pid, n in rows}


def _scope_partners(c: Challenge) -> sa.Select[Any]:
    query = sa.select(col(Partner.id))
    if c.partner_ids:
        query = query.where(col(Partner.id).in_(c.partner_ids))
    if c.region_ids:
        query = query.where(col(Partner.region_id).in_(c.region_ids))
    if c.league_ids:
        query = query.where(col(Partner.league_id).in_(c.league_ids))
    return query


def rule_of(c: Challenge) -> Rule:
    return Rule(
        kind=ChallengeKind(c.kind),
        target=c.target,
        winners=c.winners,
        team_score=TeamScore(c.team_score),
        pairs=[(a, b) for a, b in c.pairs],
    )


def settle_challenge(db: Database, challenge_id: int, now: datetime) -> bool:
    """Pay an ended challenge, once. False when there was nothing to do (already settled,
    cancelled, not ended yet): settling twice pays once."""
    with db.write() as s:
        c = s.get(Challenge, challenge_id)
        if c is None:
            return False
        lock_program_writes(s, c.program_id)
        # The guard: only the transaction that moves ended -> settled pays. Under the program
        # lock a second settler sees "settled" and leaves; the unique results back it up.
        moved = s.execute(
            sa.update(Challenge)
            .where(col(Challenge.id) == challenge_id, col(Challenge.status) == Status.ENDED.value)
            .values(
                status=Status.SETTLED.value,
                settled_at=now,
                revision=sa.select(sa.func.max(col(Challenge.revision)) + 1)
                .where(col(Challenge.program_id) == c.program_id)
                .scalar_subquery(),
            )
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        s.refresh(c)
        program = s.get(Program, c.program_id)
        assert program is not None and c.id is not None
        # Folded afresh under the program's write lock: exactly the entries there are.
        progress = fold_challenges(s, c.program_id, [c]).progress(c.id)
        _settled_rows(s, c, progress)
        sizes = team_sizes(s, c) if c.kind == ChallengeKind.TEAM else None
        placings = decide(rule_of(c), progress, sizes)
        results = [
            {
                "challenge_id": c.id,
                "kind": c.audience,
                "participant_id": p.participant_id,
                "place": p.place,
                "won": p.won,
                "settled_at": now,
            }
            for p in placings
        ]
        if results:
            s.execute(sa.insert(ChallengeResult), results)
        winners = [p.participant_id for p in placings if p.won]
        entries = _pay(s, db, program, c, winners, now)
        _audit(
            s,
            None,
            "challenge.settle",
            c,
            {"winners": winners[:1000], "bonus_entries": len(entries), "badge": c.reward_badge},
            now,
        )
        _notify(s, c, "ended", now, won={p.participant_id: p.place for p in placings if p.won})
    return True


def _pay(
    s: Session, db: Database, program: Program, c: Challenge, winners: list[int], now: datetime
) -> list[int]:
    """Bonus points for each winner: ledger entries, and the running totals with them."""
    from app.ingest import ALL_TIME, add_to_totals  # imported late: ingest imports this module

    if not winners or c.reward_points <= 0:
        return []
    period_key = rules_of(program).period_of(now).key
    holders: list[tuple[int, int | None]]  # (partner, rep) credited
    if c.audience == "rep":
        partner_of = dict(
            s.execute(
                sa.select(col(Rep.id), col(Rep.partner_id)).where(col(Rep.id).in_(winners))
            ).all()
        )
        holders = [(partner_of[w], w) for w in winners if w in partner_of]
    else:
        holders = [(w, None) for w in winners]  # partners are paid as themselves
    entries = [
        LedgerEntry(
            program_id=program.id or 0,
            partner_id=partner_id,
            rep_id=rep_id,
            kind=EntryKind.BONUS.value,
            points=c.reward_points,
            period_key=period_key,
            occurred_at=now,
            created_at=now,
            memo=f"challenge {c.id}: {c.name}"[:500],
        )
        for partner_id, rep_id in holders
    ]
    s.add_all(entries)
    s.flush()
    totals: dict[tuple[str, str, int], list[int]] = {}
    for entry in entries:
        assert entry.id is not None
        who = [("partner", entry.partner_id)] + ([("rep", entry.rep_id)] if entry.rep_id else [])
        for kind, pid in who:
            for key in (period_key, ALL_TIME):
                t = totals.setdefault((key, kind, pid), [0, 0, 0, 0, 0, 0, 0])
                t[0] += entry.points
                t[4] = entry.id
    add_to_totals(s, db, program.id or 0, totals)
    return [e.id for e in entries if e.id is not None]


# --- notices ------------------------------------------------------------------------------------


def _users_in(
    c: Challenge, whole_scope: bool = False
) -> sa.Select[int | None, int | None, str, str]:
    """(user id, participant id, email, language) of every person in the challenge (``whole_scope``: also
    those who could still opt in)."""
    if c.audience == "rep":
        query = (
            sa.select(col(User.id), col(User.rep_id), col(User.email), col(User.language))
            .join(Rep, col(Rep.id) == col(User.rep_id))
            .where(col(User.disabled_at).is_(None))
        )
        members = _explicit_members(c)
        if members:
            query = query.where(col(Rep.id).in_(members))
        else:
            query = query.where(col(Rep.partner_id).in_(_scope_partners(c)))
        participant = col(Rep.id)
    else:
        query = sa.select(
            col(User.id), col(User.partner_id), col(User.email), col(User.language)
        ).where(col(User.disabled_at).is_(None), col(User.partner_id).is_not(None))
        members = _explicit_members(c)
        if members:
            query = query.where(col(User.partner_id).in_(members))
        else:
            query = query.where(col(User.partner_id).in_(_scope_partners(c)))
        participant = col(User.partner_id)
    if c.enrolment == "opt_in" and not whole_scope:
        query = query.where(
            participant.in_(
                sa.select(col(ChallengeEntry.participant_id)).where(
                    col(ChallengeEntry.challenge_id) == c.id
                )
            )
        )
    return query


def _notify(
    s: Session, c: Challenge, kind: str, now: datetime, won: dict[int, int | None] | None = None
) -> None:
    """One notice per person in the challenge (opt-in launches go to everyone in scope, the
    invitation to join). Winners get "won" with their place instead of "ended"."""
    query = _users_in(c, whole_scope=kind in ("launched", "cancelled"))
    rows = []
    for user_id, participant_id, email, language in s.execute(query).all():
        place = (won or {}).get(participant_id)
        winner = won is not None and participant_id in won
        notice = "won" if winner else kind
        rows.append(
            {
                "challenge_id": c.id,
                "user_id": user_id,
                "kind": notice,
                "place": place,
                "created_at": now,
            }
        )
        lang = language or "en"
        subject = gettext(lang, NOTICE_SUBJECTS[notice], name=c.name)
        body = gettext(lang, NOTICE_BODIES[notice], name=c.name, reason=c.end_reason)
        queue_mail(s, email, subject, body, now)
    if rows:
        s.execute(sa.insert(ChallengeNotice), rows)


NOTICE_SUBJECTS = {
    "launched": N_("New challenge: %(name)s"),
    "won": N_("You won “%(name)s”"),
    "ended": N_("“%(name)s” has ended"),
    "cancelled": N_("“%(name)s” was cancelled"),
}
NOTICE_BODIES = {
    "launched": N_(
        "A new challenge is on: “%(name)s”. Open Podium to see the rules and your progress."
    ),
    "won": N_("Congratulations: you won “%(name)s”. Your reward is on its way to your balance."),
    "ended": N_("“%(name)s” has ended. Open Podium to see the final standings."),
    "cancelled": N_("“%(name)s” was cancelled: %(reason)s"),
}


def notices_for(s: Session, user: User, limit: int = 5) -> list[tuple[ChallengeNotice, Challenge]]:
    rows = s.execute(
        sa.select(ChallengeNotice, Challenge)
        .join(Challenge, col(Challenge.id) == col(ChallengeNotice.challenge_id))
        .where(col(ChallengeNotice.user_id) == user.id)
        .order_by(col(ChallengeNotice.id).desc())
        .limit(limit)
    ).all()
    return [(n, c) for n, c in rows]


# --- standings and lists ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    participant_id: int
    name: str
    value: int
    rank: int
    you: bool = False
    team: str = ""


@dataclass
class Standings:
    challenge: Challenge
    rows: list[Row]
    participants: int  # in it (scope with automatic enrolment, joined with opt-in)
    active: int  # with any progress
    you: Row | None = None
    goal: int = 0  # what a full progress bar means
    teams: list[tuple[str, str, float, int]] = field(
        default_factory=list
    )  # label, name, score, place
    opponent: Row | None = None


def _names(s: Session, audience: str, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    model: Any = Rep if audience == "rep" else Partner
    return {
        pid: ("Anonymous" if anon else name)
        for pid, name, anon in s.execute(
            sa.select(model.id, model.name, model.anonymous).where(model.id.in_(ids))
        ).all()
    }


def participant_count(s: Session, c: Challenge) -> int:
    if c.enrolment == "opt_in":
        return int(
            s.execute(
                sa.select(sa.func.count()).where(col(ChallengeEntry.challenge_id) == c.id)
            ).scalar_one()
        )
    members = _explicit_members(c)
    if members:
        return len(members)
    partners = _scope_partners(c)
    if c.audience == "partner":
        return int(
            s.execute(sa.select(sa.func.count()).select_from(partners.subquery())).scalar_one()
        )
    return int(
        s.execute(
            sa.select(sa.func.count()).select_from(Rep).where(col(Rep.partner_id).in_(partners))
        ).scalar_one()
    )


BOARD_PREFIX = "challenge:"  # also the live channel's feed id of a challenge page


def board_of(challenge_id: int) -> str:
    return f"{BOARD_PREFIX}{challenge_id}"


class ChallengeBoards:
    """Challenge standings ranked like the leaderboards, by the same backend (in this process or
    in Redis) and the same catch-up after each write: a standings read is O(log n) whatever the
    challenge's size. A board is built on first read from the challenge's progress (folded from
    the ledger, see ``ChallengeProgress``) and built again when the challenge's revision changes
    (a join changes progress without a ledger entry); after a write, the participants the
    catch-up saw move are looked up in the fold."""

    prefix = BOARD_PREFIX

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, board: str) -> list[RankedRow]:
        with self.db.session() as s:
            c = s.get(Challenge, int(board.removeprefix(BOARD_PREFIX)))
            if c is None:
                return []
            return [(p.participant_id, p.value, p.seq) for p in progress_of(s, c)]

    def moves(self, program: Program, participants: set[tuple[str, int]], after: int) -> list[Move]:
        assert program.id is not None
        with self.db.engine.connect() as conn:  # not a session: this runs after every write
            return PROGRESS.moves(conn, program.id, participants, after)


def _teams_of(s: Session, c: Challenge, ids: set[int]) -> dict[int, str]:
    """The team each of these participants counts for (rows shown on a team challenge)."""
    if not ids:
        return {}
    if c.status in _TRACKED_VALUES:
        return {pid: str(row[3]) for pid, row in PROGRESS.rows(s, c, ids).items()}
    entry = ChallengeEntry
    return dict(
        s.execute(
            sa.select(col(entry.participant_id), col(entry.team)).where(
                col(entry.challenge_id) == c.id, col(entry.participant_id).in_(ids)
            )
        ).all()
    )


def standings(
    s: Session,
    boards: Leaderboards,
    c: Challenge,
    me: tuple[str, int] | None,
    limit: int = 10,
) -> Standings:
    """The top of the challenge and where ``me`` stands, from the challenge's board."""
    assert c.id is not None
    program = s.get(Program, c.program_id)
    assert program is not None
    mine = me[1] if me is not None and me[0] == c.audience else None
    opponent_id = None
    if c.kind == ChallengeKind.H2H and me is not None:
        for a, b in c.pairs:
            if me[1] in (a, b):
                opponent_id = b if me[1] == a else a

    def read(backend: Any, board: str) -> tuple[list[Any], int, Any, Any, int]:
        top = [st for st in backend.top(board, limit) if st.value > 0]
        # rank_for(0) - 1: how many are above zero, zeros (joined, nothing yet) left out
        active = backend.rank_for(board, 0) - 1
        you = backend.standing(board, mine) if mine is not None else None
        rival = backend.standing(board, opponent_id) if opponent_id is not None else None
        you_rank = you.rank if you is not None and you.value > 0 else active + 1
        return top, active, you, rival, you_rank

    top, active, you, rival, you_rank = boards.ranked(
        program, board_of(c.id), read, version=c.revision
    )
    ids = {st.participant_id for st in top} | ({me[1]} if me else set())
    if opponent_id is not None:
        ids.add(opponent_id)
    names = _names(s, c.audience, ids)
    team_of = _teams_of(s, c, {st.participant_id for st in top}) if c.team_by else {}
    rows = [
        Row(
            st.participant_id,
            names.get(st.participant_id, "?"),
            st.value,
            st.rank,
            st.participant_id == mine,
            team_of.get(st.participant_id, ""),
        )
        for st in top
    ]
    out = Standings(c, rows, participants=participant_count(s, c), active=active)
    if mine is not None:
        out.you = Row(mine, names.get(mine, "?"), you.value if you else 0, you_rank, True)
    if c.kind in (ChallengeKind.TARGET, ChallengeKind.RACE):
        out.goal = c.target or 0
    elif rows:
        out.goal = rows[0].value
    if opponent_id is not None:
        value = rival.value if rival is not None else 0
        out.opponent = Row(opponent_id, names.get(opponent_id, "?"), value, 0)
        out.goal = max(out.goal, value, out.you.value if out.you else 0)
    if c.kind == ChallengeKind.TEAM:
        sizes = team_sizes(s, c)
        teams = team_standings(_team_totals(s, c), sizes, TeamScore(c.team_score))
        team_names = (
            {
                str(p.id): p.name
                for p in s.exec(
                    select(Partner).where(
                        col(Partner.id).in_([int(t) for t in sizes if t.isdigit()])
                    )
                )
            }
            if c.team_by == TeamBy.PARTNER
            else {}
        )
        out.teams = [
            (t.team, team_names.get(t.team, t.team), float(t.score), t.place) for t in teams[:limit]
        ]
        out.goal = int(out.teams[0][2]) if out.teams else 0
    return out


def _team_totals(s: Session, c: Challenge) -> list[Progress]:
    # One row per team (its total and latest change): enough for team_standings.
    totals: dict[str, list[int]] = {}
    for p in progress_of(s, c):
        t = totals.setdefault(p.team, [0, 0])
        t[0] += p.value
        t[1] = max(t[1], p.seq)
    return [Progress(0, total, seq, None, team) for team, (total, seq) in totals.items()]


def visible_challenges(s: Session, program: Program, user: User) -> list[Challenge]:
    """Every challenge this person may see, newest window first."""
    everything = s.exec(
        select(Challenge)
        .where(col(Challenge.program_id) == program.id)
        .order_by(col(Challenge.starts_at).desc(), col(Challenge.id).desc())
        .limit(500)
    ).all()
    return [c for c in everything if may_see(s, user, c)]


@dataclass
class Listed:
    challenge: Challenge
    value: int = 0
    rank: int | None = None
    goal: int = 0
    joined: bool = True
    results: list[ChallengeResult] = field(default_factory=list)


def list_for(
    s: Session, boards: Leaderboards, program: Program, user: User, now: datetime
) -> dict[str, list[Listed]]:
    """Live, upcoming and ended challenges with the person's own progress and position."""
    groups: dict[str, list[Listed]] = {"live": [], "upcoming": [], "ended": [], "drafts": []}
    for c in visible_challenges(s, program, user):
        me = participant_of(s, user, c)
        item = Listed(c)
        if me is not None:
            st = standings(s, boards, c, me, limit=1)
            item.value = st.you.value if st.you else 0
            item.rank = st.you.rank if st.you and st.you.value > 0 else None
            item.goal = st.goal
            if c.enrolment == "opt_in":
                item.joined = (
                    s.execute(
                        sa.select(col(ChallengeEntry.id)).where(
                            col(ChallengeEntry.challenge_id) == c.id,
                            col(ChallengeEntry.participant_id) == me[1],
                        )
                    ).first()
                    is not None
                )
        status = Status(c.status)
        if status == Status.DRAFT:
            groups["drafts"].append(item)
        elif status == Status.SCHEDULED:
            groups["upcoming"].append(item)
        elif status == Status.LIVE:
            groups["live"].append(item)
        else:
            groups["ended"].append(item)
    groups["upcoming"].reverse()  # soonest first
    return groups


def announcements(s: Session, program: Program, user: User | None, now: datetime) -> dict[str, Any]:
    """Context for ``_challenge_announcements.html`` on the dashboard: live challenges this
    person is in (or manages), newest first, at most three."""
    if user is None:
        return {"challenge_announcements": []}
    live = s.exec(
        select(Challenge)
        .where(col(Challenge.program_id) == program.id, col(Challenge.status) == Status.LIVE.value)
        .order_by(col(Challenge.starts_at).desc())
        .limit(50)
    ).all()
    mine = [c for c in live if may_see(s, user, c)][:3]
    return {"challenge_announcements": mine, "challenge_zone": program.timezone}


# --- the demo -----------------------------------------------------------------------------------


def seed_demo_challenges(db: Database, program: Program, now: datetime) -> list[int]:
    """Three live challenges for ``podium demo``: a race for the regional manager's region, a
    program-wide top 10 of dealers by revenue, and dealers as teams scored per member. They
    started two days ago, so the history already moved them, and end in five days."""
    from datetime import timedelta

    zone = ZoneInfo(program.timezone)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    starts, ends = today - timedelta(days=2), today + timedelta(days=5)
    with db.write() as s:
        assert program.id is not None
        lock_program_writes(s, program.id)
        east_java = s.execute(sa.select(col(Region.id)).where(col(Region.code) == "JTM")).scalar()
        regions = list(s.execute(sa.select(col(Region.id))).scalars())
        manager = s.execute(
            sa.select(col(User.id)).where(col(User.role) == Role.REGIONAL_MANAGER.value)
        ).scalar()
        local = [east_java] if east_java is not None else regions[:1]
        specs: list[dict[str, Any]] = [
            {
                "name": 'Sprint QLED 55"',
                "description": 'The first 3 reps to sell 5 QLED 55" TVs win 2,000 points.',
                "kind": "race",
                "audience": "rep",
                "metric": "units",
                "skus": ["NE-TV55Q7"],
                "region_ids": local,
                "target": 5,
                "winners": 3,
                "reward_points": 2000,
                "created_by": manager,
            },
            {
                "name": "Top 10 dealers this week",
                "description": "The ten dealers with the most revenue win 5,000 points each.",
                "kind": "top",
                "audience": "partner",
                "metric": "revenue",
                "region_ids": regions,
                "winners": 10,
                "reward_points": 5000,
            },
            {
                "name": "Dealer teams: units per rep",
                "description": "Every dealer is a team; the best average per rep wins.",
                "kind": "team",
                "audience": "rep",
                "metric": "units",
                "region_ids": local,
                "team_by": "partner",
                "team_score": "average",
                "reward_points": 1000,
                "created_by": manager,
            },
        ]
        made = []
        for spec in specs:
            c = Challenge(
                program_id=program.id, starts_at=starts, ends_at=ends, created_at=now, **spec
            )
            s.add(c)
            s.flush()
            _launch(s, c, None, now)
            made.append(c.id or 0)
    return made
