"""Tables. Every timestamp is stored in UTC; money is stored in minor units (cents, sen)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which has no zones) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Region(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)


class League(SQLModel, table=True):
    """A size segment, so partners are compared with partners of their size."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)
    position: int = 0


class Partner(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=160)
    city: str = Field(default="", max_length=120)
    region_id: int = Field(foreign_key="region.id", index=True)
    league_id: int = Field(foreign_key="league.id", index=True)
    anonymous: bool = False


class Rep(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=160)
    email: str = Field(max_length=254, index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    anonymous: bool = False


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=160)
    category: str = Field(default="", max_length=80)
    unit_price_minor: int = Field(default=0, sa_type=sa.BigInteger)


class Program(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=160)
    objective: str = Field(default="", max_length=2000)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    cadence: str = Field(default="month", max_length=16)
    timezone: str = Field(default="Asia/Jakarta", max_length=64)
    currency: str = Field(default="IDR", max_length=3)
    budget_minor: int = Field(default=0, sa_type=sa.BigInteger)
    scoring: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    tiers: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # Growth % compares a period with the participant's own baseline: the period before
    # ("previous") or the same period a year earlier ("last_year").
    growth_baseline: str = Field(
        default="previous", max_length=16, sa_column_kwargs={"server_default": "previous"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """An integration's credential. Only a SHA-256 of the secret is kept (it is random, 256 bits,
    so a slow password hash would add latency to every request and no safety)."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80)
    source: str = Field(max_length=80, index=True)
    program_id: int = Field(foreign_key="program.id")
    prefix: str = Field(max_length=16, index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    """Something a participant did, exactly as received. Unique per (program, source, external id)
    and per invoice line, which is what makes ingestion idempotent."""

    __table_args__ = (
        sa.UniqueConstraint("program_id", "source", "external_id", name="uq_event_source_id"),
        sa.UniqueConstraint("program_id", "line_key", name="uq_event_invoice_line"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    source: str = Field(max_length=80)
    external_id: str = Field(max_length=128)
    type: str = Field(max_length=32)
    partner_id: int = Field(foreign_key="partner.id")
    rep_id: int | None = Field(default=None, foreign_key="rep.id")
    sku: str | None = Field(default=None, max_length=40)
    units: int = 0
    amount_minor: int = Field(default=0, sa_type=sa.BigInteger)
    invoice: str | None = Field(default=None, max_length=80)
    line_key: str | None = Field(default=None, max_length=200)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    period_key: str = Field(max_length=16)
    body_hash: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """Append-only: the database refuses UPDATE and DELETE (see the migration's triggers)."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        sa.Index("ix_ledger_rep_period", "program_id", "rep_id", "period_key"),
        sa.Index("ix_ledger_partner_period", "program_id", "partner_id", "period_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    partner_id: int = Field(foreign_key="partner.id")
    rep_id: int | None = Field(default=None, foreign_key="rep.id")
    event_id: int | None = Field(default=None, foreign_key="event.id", index=True)
    kind: str = Field(max_length=16)
    points: int
    period_key: str = Field(max_length=16)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reverses_id: int | None = Field(default=None, foreign_key="ledger_entry.id", unique=True)
    memo: str = Field(default="", max_length=500)


class PeriodTotal(SQLModel, table=True):
    """Running totals per participant and period ('all' = all-time), kept in the same
    transaction as the ledger so a board never has to sum the ledger. ``*_seq`` is the ledger
    entry that last changed each value: the lower one reached its value first (tie rule)."""

    __tablename__ = "period_total"
    __table_args__ = (
        sa.UniqueConstraint(
            "program_id", "period_key", "kind", "participant_id", name="uq_period_total"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)
    kind: str = Field(max_length=8)  # "rep" or "partner"
    participant_id: int
    points: int = Field(default=0, sa_type=sa.BigInteger)
    units: int = Field(default=0, sa_type=sa.BigInteger)
    revenue_minor: int = Field(default=0, sa_type=sa.BigInteger)
    events: int = 0
    points_seq: int = Field(default=0, sa_type=sa.BigInteger)
    units_seq: int = Field(default=0, sa_type=sa.BigInteger)
    revenue_seq: int = Field(default=0, sa_type=sa.BigInteger)


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=160)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=24)  # rep | partner_admin | regional_manager | program_admin
    partner_id: int | None = Field(default=None, foreign_key="partner.id")
    rep_id: int | None = Field(default=None, foreign_key="rep.id")
    language: str = Field(default="", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserRegion(SQLModel, table=True):
    """The regions a regional manager is responsible for."""

    __tablename__ = "user_region"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    region_id: int = Field(foreign_key="region.id", primary_key=True)


class UserSession(SQLModel, table=True):
    """Server-side session: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "user_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportRun(SQLModel, table=True):
    """One CSV import: who, which file, what came of it."""

    __tablename__ = "import_run"
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    filename: str = Field(max_length=255)
    source: str = Field(max_length=80)
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Target(SQLModel, table=True):
    """A participant's revenue target for a period: the base of the % of target board."""

    __table_args__ = (
        sa.UniqueConstraint("program_id", "period_key", "kind", "participant_id", name="uq_target"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)
    kind: str = Field(max_length=8)  # "rep" or "partner"
    participant_id: int
    revenue_minor: int = Field(sa_type=sa.BigInteger)


class TvLink(SQLModel, table=True):
    """A secret link that shows one board full screen without a login, until revoked."""

    __tablename__ = "tv_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    program_id: int = Field(foreign_key="program.id")
    label: str = Field(max_length=120)
    audience: str = Field(max_length=16)
    scope: str = Field(max_length=60)
    metric: str = Field(max_length=16)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Claim(SQLModel, table=True):
    """A sale a rep says they made. It counts only once a manager of the partner's region (or a
    program admin) approves it: approval posts it through ingestion like any other sale."""

    __table_args__ = (sa.Index("ix_claim_program_status", "program_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    rep_id: int = Field(foreign_key="rep.id", index=True)
    partner_id: int = Field(foreign_key="partner.id")
    submitted_by: int = Field(foreign_key="user_account.id")
    invoice: str = Field(max_length=80)
    # The normalised invoice line (game.events.invoice_line_key): how duplicates are found.
    line_key: str = Field(max_length=200, index=True)
    sku: str = Field(max_length=40)
    units: int
    amount_minor: int = Field(sa_type=sa.BigInteger)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    photo_path: str | None = Field(default=None, max_length=80)  # a file name in data/claims
    status: str = Field(default="pending", max_length=16)  # pending | approved | rejected
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str = Field(default="", max_length=500)
    event_external_id: str | None = Field(default=None, max_length=128)


class AuditEntry(SQLModel, table=True):
    """Who decided what, when. Append-only like the ledger (the migration's triggers)."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    action: str = Field(max_length=40)
    subject: str = Field(max_length=80, index=True)  # e.g. "claim:12"
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
