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


# --- Accounts and enrollment: password resets, invitations, outgoing mail ---


class PasswordReset(SQLModel, table=True):
    """An emailed "choose a new password" link: single use, short-lived, only its SHA-256 kept.
    Asking for a new link revokes the older unused ones."""

    __tablename__ = "password_reset"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Invitation(SQLModel, table=True):
    """An emailed link that makes its recipient a user of one partner (its admin or a rep).
    Single use, expires; resending replaces the token (only its SHA-256 is kept)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=254, index=True)
    name: str = Field(max_length=160)
    role: str = Field(max_length=24)  # partner_admin | rep
    partner_id: int = Field(foreign_key="partner.id", index=True)
    language: str = Field(default="", max_length=8)  # of the emails it sends
    invited_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime = Field(sa_type=UTCDateTime)  # the latest (re)send
    expires_at: datetime = Field(sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")


class OutboxMessage(SQLModel, table=True):
    """An email to send, written in the same transaction as the action that causes it, so a
    rolled-back action sends nothing and a committed one is never forgotten (app/mail.py)."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # A sender leases a message until then (several app processes may be sending).
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)


# Challenges (SPIFs): contests a manager launches for a scope, a metric, a window and a reward.


class Challenge(SQLModel, table=True):
    """A contest's definition and lifecycle (draft -> scheduled -> live -> ended -> settled, or
    cancelled). Scope lists are ids; an empty list means "no restriction" on that axis."""

    __table_args__ = (
        sa.Index("ix_challenge_program_status", "program_id", "status"),
        # Each process's challenge progress asks for the program's newest revision after every
        # write (app.challenges.ChallengeProgress): one index lookup.
        sa.Index("ix_challenge_program_revision", "program_id", "revision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)
    kind: str = Field(max_length=16)  # target | race | top | team | h2h
    audience: str = Field(max_length=8)  # rep | partner
    metric: str = Field(max_length=16)  # units | revenue | points | events
    skus: list[str] = Field(default_factory=list, sa_type=sa.JSON)  # units/revenue of these only
    event_type: str | None = Field(default=None, max_length=32)  # for the "events" metric
    region_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    league_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    partner_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    # Team vs team: "partner" (each partner company is a team of its reps) or "custom"
    # ([{"name": ..., "members": [participant ids]}]); scored as a "total" or an "average".
    team_by: str | None = Field(default=None, max_length=8)
    team_score: str = Field(default="total", max_length=8)
    teams: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    pairs: list[list[int]] = Field(default_factory=list, sa_type=sa.JSON)  # head-to-head
    target: int | None = Field(default=None, sa_type=sa.BigInteger)
    winners: int | None = None  # N of a race or a top N
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    enrolment: str = Field(default="auto", max_length=8)  # auto | opt_in
    reward_points: int = 0
    reward_badge: str | None = Field(default=None, max_length=40)  # a badge code for winners
    status: str = Field(default="draft", max_length=16)
    # Raised above every other challenge of the program on each change, so a process's fold of
    # the tracked challenges knows to fold them again by reading one number.
    revision: int = 0
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str = Field(default="", max_length=500)


class ChallengeEntry(SQLModel, table=True):
    """Who joined an opt-in challenge (``joined_at``), and a settled challenge's final standings.
    While a challenge runs its progress is folded from the ledger (app.challenges.
    ChallengeProgress), not kept here. ``value_seq`` is the ledger entry that last changed the
    value and ``reached_seq`` the one that reached the target: the lower one got there first."""

    __tablename__ = "challenge_entry"
    __table_args__ = (
        sa.UniqueConstraint("challenge_id", "kind", "participant_id", name="uq_challenge_entry"),
    )
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: int = Field(foreign_key="challenge.id")
    kind: str = Field(max_length=8)  # "rep" or "partner"
    participant_id: int
    team: str = Field(default="", max_length=40)
    value: int = Field(default=0, sa_type=sa.BigInteger)
    value_seq: int = Field(default=0, sa_type=sa.BigInteger)
    reached_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    # When an opt-in participant joined; NULL with automatic enrolment (in it from the launch),
    # which keeps the rows every sale rewrites short: fewer pages to write at each commit.
    joined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChallengeResult(SQLModel, table=True):
    """A participant's final place once a challenge is settled; unique, so settling twice pays
    once (badges read it too)."""

    __tablename__ = "challenge_result"
    __table_args__ = (
        sa.UniqueConstraint("challenge_id", "kind", "participant_id", name="uq_challenge_result"),
    )
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: int = Field(foreign_key="challenge.id", index=True)
    kind: str = Field(max_length=8)  # "rep" or "partner"
    participant_id: int
    place: int | None = None
    won: bool = False
    settled_at: datetime = Field(sa_type=UTCDateTime)


class ChallengeNotice(SQLModel, table=True):
    """An in-app notification about a challenge for one user (launched, won, ended, cancelled)."""

    __tablename__ = "challenge_notice"
    __table_args__ = (
        sa.UniqueConstraint("challenge_id", "user_id", "kind", name="uq_challenge_notice"),
    )
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: int = Field(foreign_key="challenge.id")
    user_id: int = Field(foreign_key="user_account.id", index=True)
    kind: str = Field(max_length=16)
    place: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- Badges: definitions, awards (Open Badges assertions), the evaluation watermark ---


class BadgeDefinition(SQLModel, table=True):
    """A badge of a program, as data (``game.badges.BadgeDefinition.to_data`` in ``rules``).
    The columns beside it repeat what pages list and filter by."""

    __tablename__ = "badge_definition"
    __table_args__ = (sa.UniqueConstraint("program_id", "code", name="uq_badge_definition"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    code: str = Field(max_length=40)
    name: str = Field(max_length=80)
    kind: str = Field(max_length=16)
    audience: str = Field(max_length=8)  # rep | partner
    secret: bool = False
    rules: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    position: int = 0  # gallery order
    active: bool = True  # retired badges stay valid for those who hold them
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BadgeAward(SQLModel, table=True):
    """One earned badge: also its Open Badges 2.0 assertion (public id ``uid``). Unique per
    (badge, level, participant, period or "all"), so re-evaluation never awards twice."""

    __tablename__ = "badge_award"
    __table_args__ = (
        sa.UniqueConstraint(
            "badge_id", "level", "kind", "participant_id", "period_key", name="uq_badge_award"
        ),
        sa.Index("ix_badge_award_participant", "kind", "participant_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=32, unique=True)  # random: public URLs reveal no count
    program_id: int = Field(foreign_key="program.id", index=True)
    badge_id: int = Field(foreign_key="badge_definition.id")
    level: str = Field(default="", max_length=8)  # "" | bronze | silver | gold
    kind: str = Field(max_length=8)  # "rep" or "partner"
    participant_id: int
    period_key: str = Field(max_length=24)  # a period, "all", or "challenge-<id>"
    earned_in: str = Field(max_length=16)  # the period in which it was reached
    place: int | None = None  # the rank of a top-N finish
    source: str = Field(max_length=16)  # entries | period_close | challenge
    earned_at: datetime = Field(sa_type=UTCDateTime)
    # Open Badges recipient: "email" (hashed with the salt at issue) or "url" (the showcase).
    recipient_type: str = Field(default="email", max_length=8)
    recipient_hash: str = Field(default="", max_length=80)  # "sha256$<hex>"
    salt: str = Field(max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str = Field(default="", max_length=200)


class BadgeWatermark(SQLModel, table=True):
    """How far badge evaluation has read: the highest ledger entry and challenge result done."""

    __tablename__ = "badge_watermark"
    program_id: int = Field(foreign_key="program.id", primary_key=True)
    entry_id: int = Field(default=0, sa_type=sa.BigInteger)
    challenge_result_id: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- Period close: frozen standings, one close record per period, late events, streaks, jobs ---


class PeriodClose(SQLModel, table=True):
    """The one close of a (program, period): unique, so two schedulers can never both close it.
    ``state``: started -> finished; reopened by an admin (then closed again, ``generation`` + 1).
    ``units_done`` counts the close's units of work already committed, so a restart after a
    crash resumes where it stopped; ``lease_until`` keeps a second SQLite process off a close
    that is being worked on (PostgreSQL uses an advisory lock, released when a process dies)."""

    __tablename__ = "period_close"
    __table_args__ = (sa.UniqueConstraint("program_id", "period_key", name="uq_period_close"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)
    state: str = Field(max_length=12)  # started | finished | reopened
    generation: int = 1
    units_done: int = 0
    units_total: int = 0
    steps_done: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    participants: int = 0  # snapshot rows of the everyone boards by points (reps + partners)
    snapshot_rows: int = Field(default=0, sa_type=sa.BigInteger)
    bonuses: int = 0
    awards: int = 0
    streaks: int = 0
    changes: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: int = 0
    lease_owner: str = Field(default="", max_length=80)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    closed_by: int | None = Field(default=None, foreign_key="user_account.id")


class PeriodSnapshot(SQLModel, table=True):
    """A frozen row of a board at close: who stood where with what value. ``seq`` is the ledger
    entry that reached the value (the tie rule lists the lower first)."""

    __tablename__ = "period_snapshot"
    __table_args__ = (
        sa.Index(
            "ix_period_snapshot_board",
            *("program_id", "period_key", "audience", "scope", "metric", "rank"),
        ),
        sa.Index("ix_period_snapshot_participant", "kind", "participant_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: a close writes millions of rows and PostgreSQL checks a key row by row;
    # the close record (which has one) is written first in its own transaction.
    program_id: int
    period_key: str = Field(max_length=16)
    generation: int = 1
    audience: str = Field(max_length=8)  # reps | partners
    scope: str = Field(max_length=60)  # everyone, region:JKT, league:L, team:PT000
    metric: str = Field(max_length=16)
    kind: str = Field(max_length=8)  # rep | partner
    participant_id: int
    rank: int
    value: int = Field(sa_type=sa.BigInteger)
    seq: int = Field(sa_type=sa.BigInteger)


class PendingAdjustment(SQLModel, table=True):
    """An event that arrived for a closed period: held for a program admin to apply (reopen and
    re-close) or reject, never a silent change of frozen results."""

    __tablename__ = "pending_adjustment"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "source", "external_id", name="uq_pending_adjustment"),
        sa.Index("ix_pending_adjustment_status", "program_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)
    source: str = Field(max_length=80)
    external_id: str = Field(max_length=128)
    event: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # as it was sent
    body_hash: str = Field(max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=12)  # pending | applied | rejected
    decided_by: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str = Field(default="", max_length=500)


class TierBonus(SQLModel, table=True):
    """A tier bonus paid at a period's close: unique per (period, rep, tier), written in the
    same transaction as its ledger entry, so a close redone after a crash never pays twice."""

    __tablename__ = "tier_bonus"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "period_key", "rep_id", "tier", name="uq_tier_bonus"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)  # the period in which the tier was reached
    rep_id: int = Field(foreign_key="rep.id")
    tier: str = Field(max_length=80)
    points: int
    entry_id: int = Field(foreign_key="ledger_entry.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class StreakRecord(SQLModel, table=True):
    """A participant's streak as of the last closed period (``period_key``). ``*_before`` are
    the values before that period counted, so closing the same period again is idempotent."""

    __tablename__ = "streak"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "kind", "participant_id", name="uq_streak"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    kind: str = Field(max_length=8)
    participant_id: int
    period_key: str = Field(max_length=16)
    current: int = 0
    longest: int = 0
    current_before: int = 0
    longest_before: int = 0


class StreakExcuse(SQLModel, table=True):
    """A period a manager excused (a documented outage): it counts as met for the streak of one
    participant, or of everyone when ``participant_id`` is None."""

    __tablename__ = "streak_excuse"
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    period_key: str = Field(max_length=16)
    kind: str | None = Field(default=None, max_length=8)
    participant_id: int | None = None
    reason: str = Field(max_length=500)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class JobRun(SQLModel, table=True):
    """One run of a scheduled job (close, reminders, integrity check): when, where, outcome."""

    __tablename__ = "job_run"
    __table_args__ = (sa.Index("ix_job_run_job", "job", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    program_id: int | None = Field(default=None, foreign_key="program.id")
    host: str = Field(default="", max_length=80)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=12)  # running | ok | failed
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class Reminder(SQLModel, table=True):
    """A reminder sent to one user, unique per subject ("challenge-3:24h", "tier:2026-11:Gold"),
    so an hourly job never sends the same one twice."""

    __table_args__ = (sa.UniqueConstraint("user_id", "subject", name="uq_reminder"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    user_id: int = Field(foreign_key="user_account.id")
    subject: str = Field(max_length=80)
    text: str = Field(max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
