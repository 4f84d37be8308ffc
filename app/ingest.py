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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from app.db import Database, lock_program_writes
from app.models import PeriodTotal, Program
from app.programs import rules_of
from game.events import (
    MAX_AMOUNT_PER_LINE,
    MAX_UNITS_PER_LINE,
    Activity,
    EventType,
    invoice_line_key,
)
from game.ledger import EntryKind
from game.periods import Period
from game.program import ProgramRules
from game.scoring import score

log = logging.getLogger(__name__)

ALL_TIME = "all"


def _number(value: Any) -> Any:
    # JSON numbers only: "12" or true in a numeric field is a client bug worth reporting.
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise ValueError("must be a number, not text or true/false")
    return value


# Checks run inside pydantic-core where possible (strict ints, lengths): validation is a large
# share of ingest time, and Python-level validators cost several times more per event.
Units = Annotated[StrictInt, Field(ge=0, le=MAX_UNITS_PER_LINE)]
Amount = Annotated[Decimal, BeforeValidator(_number), Field(allow_inf_nan=False)]
Code = Annotated[str, Field(min_length=1, max_length=40)]
CENT = Decimal("0.01")


class EventIn(BaseModel):
    """One event as an integration sends it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1, max_length=128, description="Unique per source; resending is a no-op"
    )
    type: EventType = Field(description="sale, training, certification or outlet_opened")
    partner: Code = Field(description="Partner organisation code")
    rep: Code | None = Field(None, description="Sales rep code (must belong to the partner)")
    sku: Code | None = Field(None, description="Product SKU; required for sales")
    units: Units = Field(0, description="Units sold; at least 1 for a sale")
    amount: Amount = Field(
        Decimal(0), description="Line revenue in the program currency, at most 2 decimals"
    )
    occurred_at: AwareDatetime = Field(description="When it happened, ISO 8601 with offset")
    invoice: str | None = Field(None, min_length=1, max_length=80, description="Invoice number")

    @model_validator(mode="after")
    def _checked(self) -> EventIn:
        # Normalised once here, used everywhere after: codes are case-insensitive (stored upper
        # case) and instants are UTC, which makes every later comparison a plain one (a parsed
        # offset is a Python-level tzinfo whose utcoffset() would run on each comparison).
        fields = self.__dict__  # direct: pydantic's __setattr__ costs more than the work
        for name in ("partner", "rep", "sku"):
            value = fields[name]
            if value is not None:
                fields[name] = value.strip().upper()
        for name in ("id", "invoice"):
            value = fields[name]
            if value and (value[0].isspace() or value[-1].isspace()):
                fields[name] = value.strip()
        fields["occurred_at"] = self.occurred_at.astimezone(UTC)
        if not (0 <= self.amount <= MAX_AMOUNT_PER_LINE):
            raise ValueError(f"amount must be between 0 and {MAX_AMOUNT_PER_LINE:,}")
        if self.amount != self.amount.quantize(CENT):
            raise ValueError("amount has more than 2 decimals")
        if self.type == EventType.SALE:
            missing = [n for n in ("sku", "invoice") if not getattr(self, n)]
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
    # Events for a closed period, held as pending adjustments for a program admin.
    held: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        answer = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "duplicate_of": self.duplicate_of,
        }
        if self.held:
            answer["held"] = self.held
        return answer


EXAMPLE_TIME = "2026-11-22T14:05:00+07:00"


def _sentence(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    match kind:
        case "extra_forbidden":
            return "is not a field of an event (allowed: " + ", ".join(EventIn.model_fields) + ")"
        case "missing":
            return "is required"
        case "int_type" | "int_parsing" | "int_from_float":
            return "must be a whole number, not text or a fraction"
        case "greater_than_equal":
            return f"must be at least {ctx['ge']}"
        case "less_than_equal":
            return f"must be at most {ctx['le']:,}"
        case "string_too_short":
            return "is empty"
        case "string_too_long":
            return f"is longer than {ctx['max_length']} characters"
        case "string_type":
            return "must be text"
        case "enum":
            return "must be one of " + ", ".join(t.value for t in EventType)
        case "timezone_aware":
            return f"needs a time zone offset, e.g. {EXAMPLE_TIME}"
        case "datetime_parsing" | "datetime_type" | "datetime_from_date_parsing":
            return f"must be a date and time like {EXAMPLE_TIME}"
        case "decimal_parsing" | "decimal_type" | "finite_number":
            return "must be a number"
        case "model_type" | "dict_type":
            return "each event must be a JSON object"
    return str(err["msg"]).removeprefix("Value error, ")


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence a person can act on."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        message = _sentence(err)
        parts.append(f"{where} {message}" if where else message)
    return "; ".join(parts)


def _body_hash(ev: EventIn) -> str:
    """Fingerprint of what an event says, so a resent id can be told from a changed one."""
    canonical = "\x1f".join(
        (
            ev.id,
            ev.type.value,
            ev.partner,
            ev.rep or "",
            ev.sku or "",
            str(ev.units),
            str(ev.amount.normalize()) if ev.amount else "0",
            repr(ev.occurred_at.timestamp()),
            ev.invoice or "",
        )
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Ref:
    """A partner, rep or product as ingestion needs it: ids, not ORM objects (hot path)."""

    id: int
    code: str
    partner_id: int | None = None
    region_id: int = 0  # partners only: what challenge scopes filter on
    league_id: int = 0


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
    latest = now + future_tolerance
    for index, ev in _validated(raw_events, report, index_offset):
        if ev.occurred_at > latest:
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
    report.held = written.held
    report.rejected.extend(written.rejected)
    report.rejected.sort(key=lambda r: r["index"])
    return report


_BATCH = TypeAdapter(list[EventIn])


def _validated(
    raw_events: Sequence[Any], report: IngestReport, offset: int
) -> list[tuple[int, EventIn]]:
    """Every valid event with its index; the invalid ones go into ``report`` one by one.
    A clean batch is validated in one call into pydantic-core (a third cheaper per event)."""
    try:
        return list(enumerate(_BATCH.validate_python(raw_events), start=offset))
    except ValidationError:
        pass
    valid = []
    for i, raw in enumerate(raw_events, start=offset):
        try:
            valid.append((i, EventIn.model_validate(raw)))
        except ValidationError as exc:
            report.rejected.append({"index": i, "error": describe_validation_error(exc)})
    return valid


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
        # One writer per program at a time: racing batches never deadlock on the unique
        # indexes. Validation and scoring still run in parallel, before this point.
        lock_program_writes(session, program.id)
        rows = _Rows(session, db)
        partners = {
            code.upper(): _Ref(pid, code, None, region_id, league_id)
            for pid, code, region_id, league_id in rows.select_in(
                "SELECT id, code, region_id, league_id FROM partner",
                "code",
                {c.event.partner for c in candidates},
            )
        }
        reps = {
            code.upper(): _Ref(rid, code, partner_id)
            for rid, code, partner_id in rows.select_in(
                "SELECT id, code, partner_id FROM rep",
                "code",
                {c.event.rep for c in candidates if c.event.rep},
            )
        }
        products = {
            sku.upper(): _Ref(pid, sku)
            for pid, sku in rows.select_in(
                "SELECT id, sku FROM product",
                "sku",
                {c.event.sku for c in candidates if c.event.sku},
            )
        }
        seen_ids: dict[str, str] = dict(
            rows.select_in(
                "SELECT external_id, body_hash FROM event",
                "external_id",
                {c.event.id for c in candidates},
                program_id=program.id,
                source=source,
            )
        )
        seen_lines: dict[str, str] = dict(
            rows.select_in(
                "SELECT line_key, external_id FROM event",
                "line_key",
                {c.line_key for c in candidates if c.line_key},
                program_id=program.id,
            )
        )

        accepted: list[tuple[_Candidate, _Ref, _Ref | None]] = []
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
            accepted.append((c, partners[ev.partner], reps.get(ev.rep) if ev.rep else None))

        periods = _Periods(rules)  # each event's period, worked out once for both steps
        keys = [periods.key(c.event.occurred_at) for c, _, _ in accepted]
        if accepted:
            accepted, keys = _hold_late(session, db, program, source, accepted, keys, out)
        if accepted:
            _store(session, db, program, rules, source, accepted, keys, out)
    return out


def _reference_error(
    ev: EventIn, partners: dict[str, _Ref], reps: dict[str, _Ref], products: dict[str, _Ref]
) -> str | None:
    partner = partners.get(ev.partner)
    if partner is None:
        return f"partner '{ev.partner}' is not enrolled; check the code or enroll the partner first"
    if ev.rep:
        rep = reps.get(ev.rep)
        if rep is None:
            return f"rep '{ev.rep}' is not known; check the code or add the rep to {partner.code}"
        if rep.partner_id != partner.id:
            return f"rep '{ev.rep}' does not belong to partner '{partner.code}'"
    if ev.sku and ev.sku not in products:
        return f"SKU '{ev.sku}' is not in the product catalog"
    return None


class _Rows:
    """Raw ``executemany`` in the dialect's placeholder style.

    This is ingestion's hot path: the ORM's per-row bookkeeping cost several times the insert
    itself. Ids are reserved up front, so no RETURNING round trip per row is needed."""

    def __init__(self, session: Any, db: Database) -> None:
        # The DBAPI cursor of the session's own connection: same transaction, none of the
        # per-statement result bookkeeping (which cost more than the statements themselves).
        self.cursor = session.connection().connection.cursor()
        self.sqlite = db.is_sqlite
        self.mark = "?" if self.sqlite else "%s"

    def reserve_ids(self, table: str, n: int) -> list[int]:
        if self.sqlite:  # safe: BEGIN IMMEDIATE holds the only write lock
            self.cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
            first = int(self.cursor.fetchone()[0])
            return list(range(first, first + n))
        self.cursor.execute(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, {int(n)})")
        return [int(row[0]) for row in self.cursor.fetchall()]

    def select_in(
        self, select: str, column: str, values: set[str], **equal: Any
    ) -> list[tuple[Any, ...]]:
        """``select`` rows whose ``column`` is one of ``values`` (and other columns equal)."""
        if not values:
            return []
        conditions = [f"{name} = {self.mark}" for name in equal]
        conditions.append(f"{column} IN ({', '.join([self.mark] * len(values))})")
        sql = f"{select} WHERE {' AND '.join(conditions)}"
        self.cursor.execute(sql, (*equal.values(), *values))
        return list(self.cursor.fetchall())

    def instant(self, value: datetime) -> Any:
        # Stored exactly as the UTCDateTime column type stores it, so the ORM reads it back.
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else value

    def insert(
        self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], tail: str = ""
    ) -> None:
        placeholders = ", ".join([self.mark] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}){tail}"
        self.cursor.executemany(sql, rows)


EVENT_COLUMNS = (
    "id",
    "program_id",
    "source",
    "external_id",
    "type",
    "partner_id",
    "rep_id",
    "sku",
    "units",
    "amount_minor",
    "invoice",
    "line_key",
    "occurred_at",
    "period_key",
    "body_hash",
    "received_at",
)
ENTRY_COLUMNS = (
    "id",
    "program_id",
    "partner_id",
    "rep_id",
    "event_id",
    "kind",
    "points",
    "period_key",
    "occurred_at",
    "created_at",
    "memo",
)
TOTAL_COLUMNS = (
    "program_id",
    "period_key",
    "kind",
    "participant_id",
    "points",
    "units",
    "revenue_minor",
    "events",
    "points_seq",
    "units_seq",
    "revenue_seq",
)
# Add to the running totals; a sequence number moves only when its value changed (tie rule).
TOTAL_UPSERT = """ ON CONFLICT (program_id, period_key, kind, participant_id) DO UPDATE SET
  points = period_total.points + excluded.points,
  units = period_total.units + excluded.units,
  revenue_minor = period_total.revenue_minor + excluded.revenue_minor,
  events = period_total.events + excluded.events,
  points_seq = CASE WHEN excluded.points <> 0 THEN excluded.points_seq ELSE period_total.points_seq END,
  units_seq = CASE WHEN excluded.units <> 0 THEN excluded.units_seq ELSE period_total.units_seq END,
  revenue_seq = CASE WHEN excluded.revenue_minor <> 0 THEN excluded.revenue_seq
                ELSE period_total.revenue_seq END"""


class _Periods:
    """Period keys for a batch; a batch spans few periods, so remember the ones seen."""

    def __init__(self, rules: ProgramRules) -> None:
        self.rules = rules
        self.seen: list[Period] = []

    def key(self, instant: datetime) -> str:
        for p in self.seen:
            if p.start <= instant < p.end:
                return p.key
        period = self.rules.period_of(instant)
        self.seen.append(period)
        return period.key


def _store(
    session: Any,
    db: Database,
    program: Program,
    rules: ProgramRules,
    source: str,
    accepted: list[tuple[_Candidate, _Ref, _Ref | None]],
    keys: list[str],
    out: IngestReport,
) -> None:
    rows = _Rows(session, db)
    earned = _earned_so_far(session, program, rules, accepted, keys)
    event_ids = rows.reserve_ids("event", len(accepted))
    entry_ids = rows.reserve_ids("ledger_entry", len(accepted))
    received = rows.instant(datetime.now(UTC))

    events: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    totals: dict[tuple[str, str, int], list[int]] = {}
    assert program.id is not None
    program_id, scoring, earn = program.id, rules.scoring, EntryKind.EARN.value
    capped_by_period = scoring.cap_per_period is not None
    for (c, partner, rep), period_key, event_id, entry_id in zip(
        accepted, keys, event_ids, entry_ids, strict=True
    ):
        ev = c.event
        activity = Activity(ev.type, ev.occurred_at, ev.sku, ev.units, ev.amount)
        if capped_by_period:
            earner = (period_key, "rep", rep.id) if rep else (period_key, "partner", partner.id)
            result = score(activity, scoring, earned.get(earner, 0))
            earned[earner] = earned.get(earner, 0) + result.points
        else:
            result = score(activity, scoring)
        points, units = result.points, ev.units
        amount = int(ev.amount * 100)
        occurred = rows.instant(ev.occurred_at)
        rep_id = rep.id if rep else None
        # fmt: off
        events.append((
            event_id, program_id, source, ev.id, ev.type.value, partner.id, rep_id, ev.sku,
            units, amount, ev.invoice, c.line_key, occurred, period_key, c.body_hash, received,
        ))
        entries.append((
            entry_id, program_id, partner.id, rep_id, event_id, earn, points, period_key,
            occurred, received, f"capped from {result.uncapped}" if points < result.uncapped else "",
        ))
        # fmt: on
        holders = (
            [("partner", partner.id)] if rep is None else [("partner", partner.id), ("rep", rep.id)]
        )
        for kind, holder in holders:
            key = (period_key, kind, holder)
            t = totals.get(key)  # [points, units, revenue, events, *seq of the last change]
            if t is None:
                t = totals[key] = [0, 0, 0, 0, 0, 0, 0]
            t[0] += points
            t[1] += units
            t[2] += amount
            t[3] += 1
            # Entry ids only grow within a batch, so the latest change is the largest id.
            if points:
                t[4] = entry_id
            if units:
                t[5] = entry_id
            if amount:
                t[6] = entry_id
    _add_all_time(totals)
    rows.insert("event", EVENT_COLUMNS, events)
    rows.insert("ledger_entry", ENTRY_COLUMNS, entries)
    add_to_totals(session, db, program_id, totals)
    out.entry_ids = entry_ids
    out.accepted = len(entries)


def _add_all_time(totals: dict[tuple[str, str, int], list[int]]) -> None:
    """Add each participant's all-time row: the sum of its period rows, with the latest seqs."""
    for (_, kind, pid), t in list(totals.items()):
        whole = totals.setdefault((ALL_TIME, kind, pid), [0, 0, 0, 0, 0, 0, 0])
        for i in range(4):  # points, units, revenue, events
            whole[i] += t[i]
        for i in range(4, 7):  # the entry that last changed each value
            whole[i] = max(whole[i], t[i])


def add_to_totals(
    session: Any, db: Database, program_id: int, totals: dict[tuple[str, str, int], list[int]]
) -> None:
    """Upsert running totals ([points, units, revenue, events, *seqs] per key). Rows are written
    in key order so concurrent writers lock them in the same order and cannot deadlock."""
    _Rows(session, db).insert(
        "period_total",
        TOTAL_COLUMNS,
        [(program_id, key, kind, pid, *t) for (key, kind, pid), t in sorted(totals.items())],
        tail=TOTAL_UPSERT,
    )


def _earned_so_far(
    session: Any,
    program: Program,
    rules: ProgramRules,
    accepted: list[tuple[_Candidate, _Ref, _Ref | None]],
    keys: list[str],
) -> dict[tuple[str, str, int], int]:
    """Points already earned this period by each earner, needed only when a period cap exists."""
    if rules.scoring.cap_per_period is None:
        return {}
    wanted = {
        (key, "rep" if rep else "partner", rep.id if rep else partner.id)
        for (c, partner, rep), key in zip(accepted, keys, strict=True)
    }
    rows = session.execute(
        sa.select(
            col(PeriodTotal.period_key),
            col(PeriodTotal.kind),
            col(PeriodTotal.participant_id),
            col(PeriodTotal.points),
        ).where(
            col(PeriodTotal.program_id) == program.id,
            col(PeriodTotal.period_key).in_({w[0] for w in wanted}),
            col(PeriodTotal.participant_id).in_({w[2] for w in wanted}),
        )
    ).all()
    return {(r[0], r[1], r[2]): r[3] for r in rows if (r[0], r[1], r[2]) in wanted}


def _hold_late(
    session: Any,
    db: Database,
    program: Program,
    source: str,
    accepted: list[tuple[_Candidate, _Ref, _Ref | None]],
    keys: list[str],
    out: IngestReport,
) -> tuple[list[tuple[_Candidate, _Ref, _Ref | None]], list[str]]:
    """Events whose period is closed are held as pending adjustments (an admin applies or
    rejects them); the rest go on. Runs under the program's write lock, like the close's
    claim, so an event is either in the frozen totals or held, never lost in between."""
    rows = _Rows(session, db)
    closed = {
        key
        for key, state in rows.select_in(
            "SELECT period_key, state FROM period_close",
            "period_key",
            set(keys),
            program_id=program.id,
        )
        if state != "reopened"  # a reopened period takes its events again
    }
    if not closed:
        return accepted, keys
    late = [(a, key) for a, key in zip(accepted, keys, strict=True) if key in closed]
    already = dict(
        rows.select_in(
            "SELECT external_id, id FROM pending_adjustment",
            "external_id",
            {a[0].event.id for a, _ in late},
            program_id=program.id,
            source=source,
        )
    )
    received = rows.instant(datetime.now(UTC))
    fresh = []
    for (c, _, _), key in late:
        if c.event.id in already:
            out.duplicates += 1
            out.duplicate_of.append({"index": c.index, "of": c.event.id})
            continue
        already[c.event.id] = 0
        body = c.event.model_dump(mode="json", exclude_none=True)
        fresh.append((program.id, key, source, c.event.id, json.dumps(body), c.body_hash,
                      received, "pending", ""))  # fmt: skip
        out.held.append(
            {"index": c.index, "period": key,
             "reason": f"period {key} is closed; the event waits for a program admin"}
        )  # fmt: skip
    if fresh:
        rows.insert(
            "pending_adjustment",
            ("program_id", "period_key", "source", "external_id", "event", "body_hash",
             "received_at", "status", "reason"),
            fresh,
        )  # fmt: skip
    kept = [(a, key) for a, key in zip(accepted, keys, strict=True) if key not in closed]
    return [a for a, _ in kept], [key for _, key in kept]
