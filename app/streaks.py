"""Streaks kept in the store: moved on at each period close, repaired by a manager.

The rule and the arithmetic are ``game.streaks`` (the same the dashboard computes on view); here
they are applied to every participant at once at a close, in SQL, and recomputed from history
for a repair. A period counts when the participant made at least ``min_events`` sales in it
that still count (a reversed sale does not), exactly as the dashboard counts them.

Periods are chained by key (``previous_period``), computed from local calendar days, so a DST
change or a change of the program's time zone never breaks a streak.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from app.db import Database
from app.models import AuditEntry, PeriodClose, Program, StreakExcuse, StreakRecord, User
from app.programs import rules_of
from game.events import EventType
from game.ledger import EntryKind
from game.periods import Period, next_period, parse_period_key, previous_period
from game.streaks import Streak, StreakRule, streak_over

# The program minimum of a streak period, shared with the dashboard (app/dashboard.py says
# programs have no setting for it yet).
try:
    from app.dashboard import STREAK_RULE
except ImportError:  # pragma: no cover - the dashboard is another feature
    STREAK_RULE = StreakRule(min_events=1)

_SALES = (
    "SELECT '{kind}' AS kind, e.{holder} AS pid FROM event e"
    " JOIN ledger_entry le ON le.event_id = e.id AND le.kind = '" + EntryKind.EARN.value + "'"
    " WHERE e.program_id = :program AND e.period_key = :period"
    " AND e.type = '" + EventType.SALE.value + "' AND e.{holder} IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM ledger_entry rv WHERE rv.reverses_id = le.id)"
    " GROUP BY e.{holder} HAVING count(*) >= :least"
)
MET = (
    f"{_SALES.format(kind='rep', holder='rep_id')} UNION "
    f"{_SALES.format(kind='partner', holder='partner_id')} UNION "
    "SELECT x.kind, x.participant_id FROM streak_excuse x WHERE x.program_id = :program"
    " AND x.period_key = :period AND x.participant_id IS NOT NULL UNION "
    "SELECT s.kind, s.participant_id FROM streak s WHERE s.program_id = :program"
    " AND s.current_before > 0 AND EXISTS (SELECT 1 FROM streak_excuse x"
    " WHERE x.program_id = :program AND x.period_key = :period AND x.participant_id IS NULL)"
)


def persist_streaks(session: Session, program: Program, period: Period) -> int:
    """Move every streak of the program on by the closed ``period``; the participants whose
    period counted. Idempotent: closing the same period again starts from the values before it
    (``*_before``), so a re-close after a late sale gives the same result as one close."""
    rules = rules_of(program)
    previous = previous_period(period, rules.zone).key
    params = {"program": program.id, "period": period.key, "previous": previous,
              "least": STREAK_RULE.min_events}  # fmt: skip
    # Streaks last moved by an earlier period take this one as their new "before". One later
    # than this period (a re-close of an older period) is left for ``recompute_streaks``.
    session.execute(
        sa.text(
            "UPDATE streak SET current_before = CASE WHEN period_key = :previous THEN current"
            " ELSE 0 END, longest_before = longest, period_key = :period"
            " WHERE program_id = :program AND period_key < :period"
        ),
        params,
    )
    session.execute(
        sa.text(
            "UPDATE streak SET current = 0, longest = longest_before"
            " WHERE program_id = :program AND period_key = :period"
        ),
        params,
    )
    met = session.execute(
        sa.text(
            "INSERT INTO streak (program_id, kind, participant_id, period_key, current, longest,"
            " current_before, longest_before) SELECT :program, m.kind, m.pid, :period, 1, 1, 0, 0"
            f" FROM ({MET}) m WHERE true ON CONFLICT (program_id, kind, participant_id) DO UPDATE SET"
            " current = streak.current_before + 1,"
            " longest = CASE WHEN streak.current_before + 1 > streak.longest_before"
            " THEN streak.current_before + 1 ELSE streak.longest_before END"
            " WHERE streak.period_key = excluded.period_key"
        ),
        params,
    )
    return int(met.rowcount or 0)  # type: ignore[attr-defined]


def _closed_periods(session: Session, program: Program) -> list[Period]:
    rules = rules_of(program)
    keys = session.execute(
        sa.select(col(PeriodClose.period_key)).where(
            col(PeriodClose.program_id) == program.id, col(PeriodClose.state) == "finished"
        )
    ).scalars()
    periods = sorted(
        (parse_period_key(k, rules.cadence, rules.zone) for k in keys), key=lambda p: p.start
    )
    # Streaks run over consecutive periods: from the program's first closed period to its
    # last, every period in between (one never closed counts as not met).
    if not periods:
        return []
    out = [periods[0]]
    while out[-1].key != periods[-1].key:
        out.append(next_period(out[-1], rules.zone))
    return out


def _counts(session: Session, program: Program, kind: str, pid: int) -> dict[str, int]:
    holder = "rep_id" if kind == "rep" else "partner_id"
    rows = session.execute(
        sa.text(
            "SELECT e.period_key, count(*) FROM event e JOIN ledger_entry le ON le.event_id = e.id"
            f" AND le.kind = '{EntryKind.EARN.value}' WHERE e.program_id = :program"
            f" AND e.{holder} = :pid AND e.type = '{EventType.SALE.value}'"
            " AND NOT EXISTS (SELECT 1 FROM ledger_entry rv WHERE rv.reverses_id = le.id)"
            " GROUP BY e.period_key"
        ),
        {"program": program.id, "pid": pid},
    ).all()
    counts = {key: int(n) for key, n in rows}
    excused = session.execute(
        sa.select(col(StreakExcuse.period_key)).where(
            col(StreakExcuse.program_id) == program.id,
            sa.or_(
                col(StreakExcuse.participant_id).is_(None),
                sa.and_(col(StreakExcuse.kind) == kind, col(StreakExcuse.participant_id) == pid),
            ),
        )
    ).scalars()
    for key in excused:  # an excused period counts as met
        counts[key] = max(counts.get(key, 0), STREAK_RULE.min_events)
    return counts


def recompute_streak(session: Session, program: Program, kind: str, pid: int) -> Streak:
    """A participant's stored streak, recomputed from every closed period (``streak_over``)."""
    periods = _closed_periods(session, program)
    counts = _counts(session, program, kind, pid)
    if not periods:
        return Streak(0, 0)
    settled = periods[-1].end  # every period here has ended: none is "open"
    now = streak_over(periods, counts, STREAK_RULE, settled)
    before = streak_over(periods[:-1], counts, STREAK_RULE, settled)
    row = session.execute(
        sa.select(StreakRecord).where(
            col(StreakRecord.program_id) == program.id,
            col(StreakRecord.kind) == kind,
            col(StreakRecord.participant_id) == pid,
        )
    ).scalar_one_or_none()
    if row is None:
        assert program.id is not None
        row = StreakRecord(program_id=program.id, kind=kind, participant_id=pid,
                           period_key=periods[-1].key)  # fmt: skip
    row.period_key = periods[-1].key
    row.current, row.longest = now.current, now.longest
    row.current_before, row.longest_before = before.current, before.longest
    session.add(row)
    return now


def repair_streak(
    db: Database,
    program: Program,
    period_key: str,
    reason: str,
    by: User | None,
    now: datetime,
    kind: str | None = None,
    participant_id: int | None = None,
) -> list[tuple[str, int, Streak, Streak]]:
    """Excuse ``period_key`` (a documented outage) for one participant, or for everyone when
    none is named, and recompute the streaks it touches. Audited with before and after.
    Returns (kind, id, before, after) for each streak recomputed."""
    rules = rules_of(program)
    try:
        parse_period_key(period_key, rules.cadence, rules.zone)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if not reason.strip():
        raise ValueError("say which outage broke the streak (the reason is kept in the audit log)")
    if (kind is None) != (participant_id is None):
        raise ValueError("name both the kind (rep or partner) and the participant, or neither")
    changed: list[tuple[str, int, Streak, Streak]] = []
    with db.write() as s:
        assert program.id is not None
        s.add(StreakExcuse(program_id=program.id, period_key=period_key, kind=kind,
                           participant_id=participant_id, reason=reason.strip()[:500],
                           created_by=by.id if by else None, created_at=now))  # fmt: skip
        s.flush()
        if kind is not None and participant_id is not None:
            who = [(kind, participant_id)]
        else:
            who = [
                (k, p)
                for k, p in s.execute(
                    sa.select(col(StreakRecord.kind), col(StreakRecord.participant_id)).where(
                        col(StreakRecord.program_id) == program.id
                    )
                ).all()
            ]
        for k, p in who:
            row = s.execute(
                sa.select(col(StreakRecord.current), col(StreakRecord.longest)).where(
                    col(StreakRecord.program_id) == program.id,
                    col(StreakRecord.kind) == k,
                    col(StreakRecord.participant_id) == p,
                )
            ).one_or_none()
            before = Streak(row[0], row[1]) if row else Streak(0, 0)
            after = recompute_streak(s, program, k, p)
            if after != before:
                changed.append((k, p, before, after))
        s.add(
            AuditEntry(
                at=now, actor_user_id=by.id if by else None, action="streak_repaired",
                subject=f"streak:{program.code}:{period_key}",
                details={"reason": reason.strip()[:500], "kind": kind,
                         "participant_id": participant_id,
                         "changed": [{"kind": k, "participant_id": p,
                                      "before": [b.current, b.longest],
                                      "after": [a.current, a.longest]}
                                     for k, p, b, a in changed[:100]]},
            )
        )  # fmt: skip
    return changed


def stored_streak(session: Session, program: Program, kind: str, pid: int) -> Streak:
    row = session.execute(
        sa.select(col(StreakRecord.current), col(StreakRecord.longest)).where(
            col(StreakRecord.program_id) == program.id,
            col(StreakRecord.kind) == kind,
            col(StreakRecord.participant_id) == pid,
        )
    ).one_or_none()
    return Streak(row[0], row[1]) if row else Streak(0, 0)
