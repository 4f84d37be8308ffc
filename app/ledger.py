"""Reading balances and posting corrections on the append-only ledger."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from app.db import Database, lock_program_writes
from app.ingest import ALL_TIME, add_to_totals
from app.models import Event, LedgerEntry, Partner, Rep
from game import ledger as rules


def balance_of(
    session: Session, rep_code: str | None = None, partner_code: str | None = None
) -> int:
    """Balance = sum of the participant's entries (never a stored number)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(col(LedgerEntry.points)), 0))
    if rep_code is not None:
        query = query.join(Rep, col(Rep.id) == col(LedgerEntry.rep_id)).where(
            col(Rep.code) == rep_code
        )
    elif partner_code is not None:
        query = query.join(Partner, col(Partner.id) == col(LedgerEntry.partner_id)).where(
            col(Partner.code) == partner_code
        )
    return int(session.execute(query).scalar_one())


def reverse_entry(
    session: Session, db: Database, entry_id: int, memo: str, now: datetime
) -> LedgerEntry:
    """Cancel an entry with an equal and opposite one; the original stays as it was."""
    original = session.get(LedgerEntry, entry_id)
    if original is None:
        raise ValueError(f"ledger entry {entry_id} does not exist")
    lock_program_writes(session, original.program_id)
    reversed_ids = set(
        session.execute(
            sa.select(col(LedgerEntry.reverses_id)).where(col(LedgerEntry.reverses_id) == entry_id)
        ).scalars()
    )
    domain = rules.Entry(
        id=entry_id,
        kind=rules.EntryKind(original.kind),
        points=original.points,
        reverses=original.reverses_id,
    )
    undo = rules.reversal_of(domain, {i for i in reversed_ids if i is not None})
    if not memo.strip():
        raise ValueError("a reversal needs a reason")
    entry = LedgerEntry(
        program_id=original.program_id,
        partner_id=original.partner_id,
        rep_id=original.rep_id,
        event_id=original.event_id,
        kind=undo.kind.value,
        points=undo.points,
        period_key=original.period_key,
        occurred_at=original.occurred_at,
        created_at=now,
        reverses_id=entry_id,
        memo=memo.strip()[:500],
    )
    session.add(entry)
    session.flush()
    assert entry.id is not None
    units = revenue = 0
    if original.event_id is not None:
        event = session.get(Event, original.event_id)
        if event is not None:
            units, revenue = -event.units, -event.amount_minor
    holders = [("partner", original.partner_id)] + (
        [("rep", original.rep_id)] if original.rep_id is not None else []
    )
    totals = {
        (key, kind, pid): [undo.points, units, revenue, 0, entry.id, entry.id, entry.id]
        for kind, pid in holders
        for key in (original.period_key, ALL_TIME)
    }
    add_to_totals(session, db, original.program_id, totals)
    return entry
