"""A rep's or partner admin's own dashboard: streak, place on each of their boards, and what
recently happened to their points.

route (``app/routes/pages.py:home_context``, also rendered by live pushes) → here → ``game``
(streaks, periods, boards) → store and ``Leaderboards``. Blocking: call from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.boards import Leaderboards
from app.claims import SOURCE as CLAIMS_SOURCE
from app.models import Event, League, LedgerEntry, Partner, Program, Region, Rep, User
from app.programs import rules_of
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind
from game.events import EventType
from game.ledger import EntryKind
from game.periods import Period, periods_between
from game.streaks import Streak, StreakRule, streak_over

RECENT = 10  # ledger entries shown under "recent activity"
# The program minimum of a streak period. Programs have no setting for it yet; when they do,
# it comes from the program's rules like the tiers.
STREAK_RULE = StreakRule(min_events=1)


@dataclass(frozen=True)
class BoardPlace:
    """Where I stand on one board I am on (``rank`` None: not on it yet, no points)."""

    scope: ScopeKind
    scope_name: str  # the region's, league's or company's name; "" for everyone
    href: str  # the full board, which shows the rows around me
    size: int
    rank: int | None
    tied: bool
    value: int
    to_next: int | None  # points to reach the next better rank; None at the top
    next_rank: int | None


@dataclass(frozen=True)
class ActivityLine:
    """One ledger entry as the owner reads it."""

    at: datetime
    points: int
    what: str  # sale | claim | activity | reversal | bonus | adjustment | redeem
    units: int = 0
    sku: str | None = None
    activity: str | None = None  # the event type of an activity (training, ...)


@dataclass(frozen=True)
class Dashboard:
    kind: str  # "rep" or "partner"
    streak: Streak
    cadence: str
    min_events: int
    places: list[BoardPlace]
    activity: list[ActivityLine]


def dashboard_of(
    session: Session, boards: Leaderboards, program: Program, user: User, now: datetime
) -> Dashboard | None:
    """The dashboard of ``user``: a rep's own, or a partner admin's company's; None for
    anyone else (managers and admins have no points of their own)."""
    rep = session.get(Rep, user.rep_id) if user.rep_id is not None else None
    if rep is not None:
        partner = session.get(Partner, rep.partner_id)
    elif user.role == "partner_admin" and user.partner_id is not None:
        partner = session.get(Partner, user.partner_id)
    else:
        return None
    if partner is None:
        return None
    rules = rules_of(program)
    period = rules.period_of(now)
    kind = "rep" if rep is not None else "partner"
    pid = rep.id if rep is not None else partner.id
    assert pid is not None
    return Dashboard(
        kind=kind,
        streak=streak_over(
            _periods_so_far(program, now),
            _sales_by_period(session, program, kind, pid),
            STREAK_RULE,
            now,
        ),
        cadence=rules.cadence.value,
        min_events=STREAK_RULE.min_events,
        places=_places(session, boards, program, period, kind, pid, partner),
        activity=recent_activity(session, program, kind, pid),
    )


def _periods_so_far(program: Program, now: datetime) -> list[Period]:
    """The program's periods from its start to the one running now (none before it starts)."""
    rules = rules_of(program)
    return periods_between(program.starts_at, min(now, program.ends_at), rules.cadence, rules.zone)


def _sales_by_period(session: Session, program: Program, kind: str, pid: int) -> dict[str, int]:
    """Sales per period key that still count: a sale whose points were reversed does not."""
    reversal = aliased(LedgerEntry)
    holder = col(LedgerEntry.rep_id) if kind == "rep" else col(LedgerEntry.partner_id)
    rows = session.execute(
        sa.select(col(Event.period_key), sa.func.count())
        .join(LedgerEntry, col(LedgerEntry.event_id) == col(Event.id))
        .where(
            col(LedgerEntry.program_id) == program.id,
            holder == pid,
            col(LedgerEntry.kind) == EntryKind.EARN.value,
            col(Event.type) == EventType.SALE.value,
            ~sa.exists().where(col(reversal.reverses_id) == col(LedgerEntry.id)),
        )
        .group_by(col(Event.period_key))
    ).all()
    return {key: int(n) for key, n in rows}


def _places(
    session: Session,
    boards: Leaderboards,
    program: Program,
    period: Period,
    kind: str,
    pid: int,
    partner: Partner,
) -> list[BoardPlace]:
    """My place on this period's points boards: league, region, everyone and (a rep) my
    company's team."""
    league = session.get(League, partner.league_id)
    region = session.get(Region, partner.region_id)
    assert league is not None and region is not None
    scopes = [
        (Scope(ScopeKind.LEAGUE, league.code), league.name),
        (Scope(ScopeKind.REGION, region.code), region.name),
        (Scope(ScopeKind.EVERYONE), ""),
    ]
    if kind == "rep":
        scopes.append((Scope(ScopeKind.TEAM, partner.code), partner.name))
    audience = Audience.REPS if kind == "rep" else Audience.PARTNERS
    out = []
    for scope, name in scopes:
        spec = BoardSpec(audience, scope, Metric.POINTS, period.key)
        # The leader and the two rows around me: enough for my rank and the gap to the next
        # better rank (the row just above may share my rank).
        view = boards.view(program, spec, you=pid, limit=1, around=2)
        me = view.you
        better = [r for r in view.top + view.around if me is not None and r.rank < me.rank]
        above = max(better, key=lambda r: r.rank, default=None)
        out.append(
            BoardPlace(
                scope=scope.kind,
                scope_name=name,
                href=_board_href(period.key, audience, scope),
                size=view.size,
                rank=me.rank if me else None,
                tied=me.tied if me else False,
                value=me.value if me else 0,
                to_next=(above.value - me.value) if me and above else None,
                next_rank=above.rank if above else None,
            )
        )
    return out


def recent_activity(
    session: Session, program: Program, kind: str, pid: int, limit: int = RECENT
) -> list[ActivityLine]:
    """The newest ledger entries of a rep (or of a partner: all its reps' too), newest first
    by the date each one shows (see ``_dated``), so the list reads as a timeline."""
    holder = col(LedgerEntry.rep_id) if kind == "rep" else col(LedgerEntry.partner_id)
    rows = session.execute(
        sa.select(LedgerEntry, Event)
        .outerjoin(Event, col(Event.id) == col(LedgerEntry.event_id))
        .where(col(LedgerEntry.program_id) == program.id, holder == pid)
        .order_by(_dated().desc(), col(LedgerEntry.id).desc())
        .limit(limit)
    ).all()
    return [_line(entry, event) for entry, event in rows]


def _dated() -> sa.ColumnElement[datetime]:
    """When an entry happened for its owner: a sale when it was made (that decides its
    period); an approved claim or a reversal when it was decided (a reversal copies the
    occurred_at of the entry it cancels)."""
    decided = sa.or_(
        col(LedgerEntry.kind) == EntryKind.REVERSAL.value, col(Event.source) == CLAIMS_SOURCE
    )
    return sa.case((decided, col(LedgerEntry.created_at)), else_=col(LedgerEntry.occurred_at))


def _line(entry: LedgerEntry, event: Event | None) -> ActivityLine:
    if entry.kind == EntryKind.REVERSAL.value:
        what, at = "reversal", entry.created_at
    elif entry.kind != EntryKind.EARN.value or event is None:
        what, at = entry.kind, entry.occurred_at
    elif event.type == EventType.SALE.value:
        claimed = event.source == CLAIMS_SOURCE
        what, at = ("claim", entry.created_at) if claimed else ("sale", entry.occurred_at)
    else:
        what, at = "activity", entry.occurred_at
    return ActivityLine(
        at=at,
        points=entry.points,
        what=what,
        units=event.units if event is not None else 0,
        sku=event.sku if event is not None else None,
        activity=event.type if event is not None and what == "activity" else None,
    )


def _board_href(period_key: str, audience: Audience, scope: Scope) -> str:
    """The full board (with the rows around me), as a plain link."""
    return "/boards?" + urlencode(
        {"period": period_key, "audience": audience.value, "scope": str(scope), "metric": "points"}
    )
