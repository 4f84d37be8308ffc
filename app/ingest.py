"""Event ingestion: one path for the JSON API, CSV imports and approved claims.

``ingest_events`` validates every event on its own (a bad one never sinks the batch), recognises
repeats (same id from the same source, or the same invoice line under another id or rep), scores
the rest with the program's rules and writes events, ledger entries and running totals in one
transaction: a batch is written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import Database
from app.models import Event, LedgerEntry, Partner, PeriodTotal, Product, Program, Rep
from app.programs import rules_of
from game.events import (
    MAX_AMOUNT_PER_LINE,
    MAX_UNITS_PER_LINE,
    Activity,
    EventType,
    invoice_line_key,
)
from game.ledger import EntryKind
from game.scoring import score

log = logging.getLogger(__name__)

ALL_TIME = "all"
INGEST_LOCK = 0x706F64  # advisory lock class for ingestion ("pod")


def _strict_number(value: Any) -> Any:
    # JSON numbers only: "12" or true in a numeric field is a client bug worth reporting.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number, not text or true/false")
    return value


Units = Annotated[int, BeforeValidator(_strict_number), Field(ge=0, le=MAX_UNITS_PER_LINE)]
Amount = Annotated[
    Decimal,
    BeforeValidator(_strict_number),
    Field(ge=0, le=MAX_AMOUNT_PER_LINE, decimal_places=2, allow_inf_nan=False),
]
Code = Annotated[str, Field(min_length=1, max_length=40)]


class EventIn(BaseModel):
    """One event as an integration sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(
        min_length=1, max_length=128, description="Unique per source; resending is a no-op"
    )
    type: EventType = Field(description="sale, training, certification or outlet_opened")
    partner: Code = Field(description="Partner organisation code")
    rep: Code | None = Field(None, description="Sales rep code (must belong to the partner)")
    sku: Code | None = Field(None, description="Product SKU; required for sales")
    units: Units = Field(0, description="Units sold; at least 1 for a sale")
    amount: Amount = Field(Decimal(0), description="Line revenue in the program currency")
    occurred_at: AwareDatetime = Field(description="When it happened, ISO 8601 with offset")
    invoice: str | None = Field(None, min_length=1, max_length=80, description="Invoice number")

    @model_validator(mode="after")
    def _sale_has_a_line(self) -> EventIn:
        if self.type == EventType.SALE:
            missing = [n for n in ("sku", "invoice") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a sale needs {' and '.join(missing)}")
            if self.units < 1:
                raise ValueError("a sale needs units of at least 1")
        return self


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicate_of: list[dict[str, Any]] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "duplicate_of": self.duplicate_of,
        }


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence a person can act on."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = (
                "is not a field of an event (allowed: " + ", ".join(EventIn.model_fields) + ")"
            )
        elif err["type"] == "timezone_aware":
            message = "needs a time zone offset, e.g. 2026-11-22T14:05:00+07:00"
        elif err["type"] == "missing":
            message = "is required"
        parts.append(f"{where} {message}" if where else message)
    return "; ".join(parts)


def _body_hash(ev: EventIn) -> str:
    canonical = {
        "id": ev.id,
        "type": ev.type.value,
        "partner": ev.partner.upper(),
        "rep": ev.rep.upper() if ev.rep else None,
        "sku": ev.sku.upper() if ev.sku else None,
        "units": ev.units,
        "amount": str(ev.amount.normalize()) if ev.amount else "0",
        "occurred_at": ev.occurred_at.timestamp(),
        "invoice": ev.invoice,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _by_code(session: Any, model: Any, column: Any, codes: set[str]) -> dict[str, Any]:
    if not codes:
        return {}
    rows = session.execute(sa.select(model).where(column.in_(sorted(codes)))).scalars()
    return {getattr(r, column.key).upper(): r for r in rows}


@dataclass
class _Candidate:
    index: int
    event: EventIn
    body_hash: str
    line_key: str | None


def ingest_events(
    db: Database,
    program: Program,
    source: str,
    raw_events: Sequence[Any],
    now: datetime,
    future_tolerance: timedelta = timedelta(minutes=5),
    index_offset: int = 0,
) -> IngestReport:
    """Validate, de-duplicate, score and store a batch. Safe to call concurrently: a writer that
    loses a race on the unique keys retries, and then sees the winner's rows as duplicates."""
    report = IngestReport()
    candidates: list[_Candidate] = []
    for i, raw in enumerate(raw_events):
        index = i + index_offset
        try:
            ev = EventIn.model_validate(raw)
        except ValidationError as exc:
            report.rejected.append({"index": index, "error": describe_validation_error(exc)})
            continue
        if ev.occurred_at > now + future_tolerance:
            report.rejected.append(
                {
                    "index": index,
                    "error": "occurred_at is in the future; send events after they happen",
                }
            )
            continue
        line = invoice_line_key(ev.invoice, ev.sku) if ev.invoice and ev.sku else None
        candidates.append(_Candidate(index, ev, _body_hash(ev), line))
    if not candidates:
        return report

    for attempt in range(8):
        try:
            written = _write(db, program, source, candidates)
            break
        except (IntegrityError, DBAPIError) as exc:
            # Lost a race with a concurrent writer (unique key or deadlock): redo the batch.
            if attempt == 7 or not _is_retryable(exc):
                raise
            log.info("ingest retry %d after %s", attempt + 1, type(exc.orig).__name__)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    report.accepted = written.accepted
    report.duplicates = written.duplicates
    report.duplicate_of = written.duplicate_of
    report.entry_ids = written.entry_ids
    report.rejected.extend(written.rejected)
    report.rejected.sort(key=lambda r: r["index"])
    return report


def _is_retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock


def _write(
    db: Database, program: Program, source: str, candidates: list[_Candidate]
) -> IngestReport:
    rules = rules_of(program)
    out = IngestReport()
    assert program.id is not None
    with db.write() as session:
        if not db.is_sqlite:
            # One writer per program at a time, like SQLite's BEGIN IMMEDIATE: the "is this
            # event new?" check and the insert become atomic, so racing batches never deadlock
            # on the unique indexes. Validation and scoring still run in parallel outside.
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(INGEST_LOCK, program.id)))
        partners = _by_code(
            session, Partner, Partner.code, {c.event.partner.upper() for c in candidates}
        )
        reps = _by_code(
            session, Rep, Rep.code, {c.event.rep.upper() for c in candidates if c.event.rep}
        )
        products = _by_code(
            session, Product, Product.sku, {c.event.sku.upper() for c in candidates if c.event.sku}
        )
        ids = [c.event.id for c in candidates]
        seen_ids: dict[str, str] = dict(
            session.execute(
                sa.select(Event.external_id, Event.body_hash).where(
                    Event.program_id == program.id,
                    Event.source == source,
                    Event.external_id.in_(ids),  # type: ignore[attr-defined]
                )
            ).all()
        )
        lines = [c.line_key for c in candidates if c.line_key]
        seen_lines: dict[str, str] = (
            dict(
                session.execute(
                    sa.select(Event.line_key, Event.external_id).where(
                        Event.program_id == program.id,
                        Event.line_key.in_(lines),  # type: ignore[union-attr]
                    )
                ).all()
            )
            if lines
            else {}
        )

        accepted: list[tuple[_Candidate, Partner, Rep | None]] = []
        for c in candidates:
            ev = c.event
            previous = seen_ids.get(ev.id)
            if previous is not None:
                if previous == c.body_hash:
                    out.duplicates += 1
                    out.duplicate_of.append({"index": c.index, "of": ev.id})
                else:
                    out.rejected.append(
                        {
                            "index": c.index,
                            "error": f"id '{ev.id}' was already received with different details; "
                            "send a new id for a new event (corrections are made by an admin reversal)",
                        }
                    )
                continue
            if c.line_key and c.line_key in seen_lines:
                out.duplicates += 1
                out.duplicate_of.append({"index": c.index, "of": seen_lines[c.line_key]})
                continue
            error = _reference_error(ev, partners, reps, products) or rules.window_error(
                ev.occurred_at
            )
            if error:
                out.rejected.append({"index": c.index, "error": error})
                continue
            # Later events in the same batch see this one.
            seen_ids[ev.id] = c.body_hash
            if c.line_key:
                seen_lines[c.line_key] = ev.id
            accepted.append(
                (c, partners[ev.partner.upper()], reps.get(ev.rep.upper()) if ev.rep else None)
            )

        if not accepted:
            return out
        _store(session, db, program, rules, source, accepted, out)
    return out


def _reference_error(
    ev: EventIn, partners: dict[str, Partner], reps: dict[str, Rep], products: dict[str, Product]
) -> str | None:
    partner = partners.get(ev.partner.upper())
    if partner is None:
        return f"partner '{ev.partner}' is not enrolled; check the code or enroll the partner first"
    if ev.rep:
        rep = reps.get(ev.rep.upper())
        if rep is None:
            return f"rep '{ev.rep}' is not known; check the code or add the rep to {partner.code}"
        if rep.partner_id != partner.id:
            return f"rep '{ev.rep}' does not belong to partner '{partner.code}'"
    if ev.sku and ev.sku.upper() not in products:
        return f"SKU '{ev.sku}' is not in the product catalog"
    return None


def _store(
    session: Any,
    db: Database,
    program: Program,
    rules: Any,
    source: str,
    accepted: list[tuple[_Candidate, Partner, Rep | None]],
    out: IngestReport,
) -> None:
    period_keys = {
        c.event.occurred_at: rules.period_of(c.event.occurred_at).key for c, _, _ in accepted
    }
    earned = _earned_so_far(session, program, rules, accepted, period_keys)

    event_rows = []
    scored = []
    for c, partner, rep in accepted:
        ev = c.event
        period_key = period_keys[ev.occurred_at]
        earner = ("rep", rep.id) if rep else ("partner", partner.id)
        so_far = earned.get((period_key, *earner), 0)
        result = score(
            Activity(ev.type, ev.occurred_at, ev.sku, ev.units, ev.amount), rules.scoring, so_far
        )
        earned[(period_key, *earner)] = so_far + result.points
        scored.append((c, partner, rep, period_key, result))
        event_rows.append(
            {
                "program_id": program.id,
                "source": source,
                "external_id": ev.id,
                "type": ev.type.value,
                "partner_id": partner.id,
                "rep_id": rep.id if rep else None,
                "sku": ev.sku.upper() if ev.sku else None,
                "units": ev.units,
                "amount_minor": int(ev.amount * 100),
                "invoice": ev.invoice,
                "line_key": c.line_key,
                "occurred_at": ev.occurred_at,
                "period_key": period_key,
                "body_hash": c.body_hash,
            }
        )
    event_ids = (
        session.execute(
            sa.insert(Event).returning(Event.id, sort_by_parameter_order=True), event_rows
        )
        .scalars()
        .all()
    )

    entry_rows = []
    for (c, partner, rep, period_key, result), event_id in zip(scored, event_ids, strict=True):
        entry_rows.append(
            {
                "program_id": program.id,
                "partner_id": partner.id,
                "rep_id": rep.id if rep else None,
                "event_id": event_id,
                "kind": EntryKind.EARN.value,
                "points": result.points,
                "period_key": period_key,
                "occurred_at": c.event.occurred_at,
                "memo": f"capped from {result.uncapped}" if result.capped else "",
            }
        )
    entry_ids = (
        session.execute(
            sa.insert(LedgerEntry).returning(LedgerEntry.id, sort_by_parameter_order=True),
            entry_rows,
        )
        .scalars()
        .all()
    )
    out.entry_ids = list(entry_ids)
    out.accepted = len(entry_ids)

    totals: dict[tuple[str, str, int], list[int]] = {}
    for (c, partner, rep, period_key, result), entry_id in zip(scored, entry_ids, strict=True):
        amount = int(c.event.amount * 100)
        holders = [("partner", partner.id)] + ([("rep", rep.id)] if rep else [])
        for kind, pid in holders:
            for key in (period_key, ALL_TIME):
                t = totals.setdefault((key, kind, pid), [0, 0, 0, 0, 0, 0, 0])
                t[0] += result.points
                t[1] += c.event.units
                t[2] += amount
                t[3] += 1
                if result.points:
                    t[4] = entry_id
                if c.event.units:
                    t[5] = entry_id
                if amount:
                    t[6] = entry_id
    add_to_totals(session, db, program.id, totals)


def add_to_totals(
    session: Any, db: Database, program_id: int, totals: dict[tuple[str, str, int], list[int]]
) -> None:
    """Upsert running totals; rows are written in key order so concurrent writers on PostgreSQL
    lock them in the same order and cannot deadlock each other."""
    rows = [
        {
            "program_id": program_id,
            "period_key": key,
            "kind": kind,
            "participant_id": pid,
            "points": t[0],
            "units": t[1],
            "revenue_minor": t[2],
            "events": t[3],
            "points_seq": t[4],
            "units_seq": t[5],
            "revenue_seq": t[6],
        }
        for (key, kind, pid), t in sorted(totals.items())
    ]
    insert = (sqlite_insert if db.is_sqlite else pg_insert)(PeriodTotal)
    table = PeriodTotal.__table__  # type: ignore[attr-defined]
    ex = insert.excluded

    def seq(name: str, value: str) -> Any:
        # Keep the old sequence number when this write did not change the value.
        return sa.case((getattr(ex, value) != 0, getattr(ex, name)), else_=table.c[name])

    stmt = insert.on_conflict_do_update(
        index_elements=["program_id", "period_key", "kind", "participant_id"],
        set_={
            "points": table.c.points + ex.points,
            "units": table.c.units + ex.units,
            "revenue_minor": table.c.revenue_minor + ex.revenue_minor,
            "events": table.c.events + ex.events,
            "points_seq": seq("points_seq", "points"),
            "units_seq": seq("units_seq", "units"),
            "revenue_seq": seq("revenue_seq", "revenue_minor"),
        },
    )
    session.execute(stmt, rows)


def _earned_so_far(
    session: Any,
    program: Program,
    rules: Any,
    accepted: list[Any],
    period_keys: dict[datetime, str],
) -> dict[tuple[str, str, int], int]:
    """Points already earned this period by each earner, needed only when a period cap exists."""
    if rules.scoring.cap_per_period is None:
        return {}
    wanted = {
        (
            period_keys[c.event.occurred_at],
            "rep" if rep else "partner",
            rep.id if rep else partner.id,
        )
        for c, partner, rep in accepted
    }
    keys = {w[0] for w in wanted}
    ids = {w[2] for w in wanted}
    rows = session.execute(
        sa.select(
            PeriodTotal.period_key, PeriodTotal.kind, PeriodTotal.participant_id, PeriodTotal.points
        ).where(
            PeriodTotal.program_id == program.id,
            PeriodTotal.period_key.in_(keys),  # type: ignore[attr-defined]
            PeriodTotal.participant_id.in_(ids),  # type: ignore[attr-defined]
        )
    ).all()
    return {(r[0], r[1], r[2]): r[3] for r in rows if (r[0], r[1], r[2]) in wanted}
