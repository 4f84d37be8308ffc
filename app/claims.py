"""Sales claims: a rep says "I sold this"; a manager of the partner's region decides.

A claim counts only when approved, and approval posts it through ``ingest_events`` (source
"claims") like any API sale, so the same validation, invoice-line dedupe, scoring and ledger
apply. Every submission and decision is written to the append-only audit log in the same
transaction as the claim's change.

Errors and the duplicate notes are English message ids with their values (``app.i18n``):
pages show them in the reader's language, logs and the audit log keep the English.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col

from app import formatting
from app.accounts import Role
from app.badges import settle_badges
from app.db import Database, lock_program_writes
from app.i18n import N_, Refusal, gettext
from app.ingest import EventIn, describe_validation_error, ingest_events
from app.ledger import reverse_entry
from app.models import (
    AuditEntry,
    Claim,
    Event,
    LedgerEntry,
    Partner,
    Product,
    Program,
    Region,
    Rep,
    User,
    UserRegion,
)
from app.photos import delete_photo, save_photo
from app.programs import rules_of
from game.events import invoice_line_key

SOURCE = "claims"
MAX_REASON = 500


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


# A status inside a sentence ("This claim was already approved.").
STATUS_WORD = {
    Status.PENDING: N_("pending"),
    Status.APPROVED: N_("approved"),
    Status.REJECTED: N_("rejected"),
}


class Mention(str):
    """Another record of the same invoice line, e.g. "sale erp-1 from erp".

    A str holding the English, so the audit log, logs and comparisons keep reading it as text;
    ``text(lang)`` says it in the reader's language."""

    message: str
    values: dict[str, Any]

    def __new__(cls, message: str, **values: Any) -> Mention:
        mention = super().__new__(cls, message % values)
        mention.message = message
        mention.values = values
        return mention

    def text(self, lang: str) -> str:
        return gettext(lang, self.message, **self.values)


def _localised(value: Any, lang: str) -> Any:
    """A message value as the reader says it: status words, duplicate notes, dates."""
    if isinstance(value, Status):
        return gettext(lang, STATUS_WORD[value])
    if isinstance(value, Mention):
        return value.text(lang)
    if isinstance(value, tuple):
        return ", ".join(str(_localised(v, lang)) for v in value)
    if isinstance(value, date):
        return formatting.day(value, lang)
    return value


class ClaimError(Refusal, ValueError):
    """A claim that cannot be submitted or decided as asked; the message says why.

    Values may be a Status, a Mention, a tuple of Mentions or a date: each is put in the
    reader's words by ``text(lang)``; ``str()`` is the English."""

    def text(self, lang: str) -> str:
        values = {name: _localised(value, lang) for name, value in self.values.items()}
        return gettext(lang, self.message, **values)

    def __str__(self) -> str:
        return self.text("en")


class ClaimRefused(ClaimError):
    """This person may not do this to this claim (a 403, not a form mistake)."""


@dataclass(frozen=True)
class ClaimForm:
    """What the rep typed, as text: parsing it is part of giving clear errors."""

    invoice: str
    day: str  # YYYY-MM-DD, the invoice date in the program's time zone
    sku: str
    units: str
    amount: str


def audit(
    session: Session,
    actor: User | None,
    action: str,
    subject: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor_user_id=actor.id if actor else None,
            action=action,
            subject=subject,
            details=details,
        )
    )


def _subject(claim: Claim) -> str:
    return f"claim:{claim.id}"


def external_id_of(claim: Claim) -> str:
    return f"claim-{claim.id}"


# --- submitting ------------------------------------------------------------------------------


def _parse(form: ClaimForm, program: Program, now: datetime) -> tuple[datetime, int, Decimal]:
    try:
        day = date.fromisoformat(form.day.strip())
    except ValueError:
        raise ClaimError(N_("Enter the invoice date as YYYY-MM-DD.")) from None
    zone = ZoneInfo(program.timezone)
    if day > now.astimezone(zone).date():
        raise ClaimError(N_("The invoice date is in the future; claim a sale after it happened."))
    # The start of that day in the program's zone: the sale lands in the period of its day.
    occurred_at = datetime.combine(day, time(), tzinfo=zone)
    try:
        units = int(form.units.strip())
    except ValueError:
        raise ClaimError(N_("Units must be a whole number, e.g. 3.")) from None
    try:
        amount = Decimal(form.amount.strip())
    except InvalidOperation:
        raise ClaimError(
            N_("Amount must be a number without thousands separators, e.g. 1500000 or 1500000.50.")
        ) from None
    if not amount.is_finite():
        raise ClaimError(N_("Amount must be a number."))
    return occurred_at, units, amount


def _as_event(
    external_id: str,
    partner: Partner,
    rep: Rep,
    sku: str,
    units: int,
    amount: Decimal,
    occurred_at: datetime,
    invoice: str,
) -> dict[str, Any]:
    return {
        "id": external_id,
        "type": "sale",
        "partner": partner.code,
        "rep": rep.code,
        "sku": sku,
        "units": units,
        "amount": amount,
        "occurred_at": occurred_at,
        "invoice": invoice,
    }


def submit_claim(
    db: Database,
    program: Program,
    user: User,
    form: ClaimForm,
    now: datetime,
    photo: bytes | None = None,
    photo_dir: Path | None = None,
) -> Claim:
    """Record a pending claim for the rep behind ``user``. ``photo`` is an already re-encoded
    WebP (app.photos.reencode_photo); it is written only once the claim itself is valid."""
    if user.role != Role.REP or user.rep_id is None:
        raise ClaimRefused(N_("Only sales reps can submit sales claims."))
    occurred_at, units, amount = _parse(form, program, now)
    with db.session() as s:
        rep = s.get(Rep, user.rep_id)
        partner = s.get(Partner, rep.partner_id) if rep else None
        if rep is None or partner is None:
            raise ClaimRefused(N_("Your account is not linked to a rep of an enrolled partner."))
        # The same checks as an API sale, so an approved claim cannot fail ingestion on them.
        try:
            event = EventIn.model_validate(
                _as_event(
                    "claim-new", partner, rep, form.sku, units, amount, occurred_at, form.invoice
                )
            )
        except ValidationError as exc:
            # Ingestion's sentence, shared with the API, stays English; the page frames it.
            raise ClaimError(
                N_("%(problem)s."), problem=describe_validation_error(exc).capitalize()
            ) from None
        assert event.sku is not None and event.invoice is not None
        known = s.execute(
            sa.select(col(Product.id)).where(col(Product.sku) == event.sku)  # as ingest matches
        ).first()
        if known is None:
            raise ClaimError(N_("SKU '%(sku)s' is not in the product catalog."), sku=event.sku)
        rules = rules_of(program)
        if rules.window_error(event.occurred_at):
            if event.occurred_at < rules.starts_at:
                first = rules.starts_at.astimezone(rules.zone).date()
                raise ClaimError(
                    N_("The invoice date is before the program starts (%(day)s)."), day=first
                )
            # ends_at is exclusive: the last day is the one before it.
            last = (rules.ends_at - timedelta(microseconds=1)).astimezone(rules.zone).date()
            raise ClaimError(
                N_("The invoice date is after the program's last day (%(day)s)."), day=last
            )

    assert program.id is not None and rep.id is not None and partner.id is not None
    assert user.id is not None
    photo_name = save_photo(photo_dir, photo) if photo is not None and photo_dir else None
    claim = Claim(
        program_id=program.id,
        rep_id=rep.id,
        partner_id=partner.id,
        submitted_by=user.id,
        invoice=event.invoice,
        line_key=invoice_line_key(event.invoice, event.sku),
        sku=event.sku,
        units=event.units,
        amount_minor=int(event.amount * 100),
        occurred_at=event.occurred_at,
        photo_path=photo_name,
        status=Status.PENDING.value,
        submitted_at=now,
    )
    try:
        with db.write() as s:
            s.add(claim)
            s.flush()
            duplicates = duplicates_of(s, program.id, {claim.id: claim.line_key}).get(claim.id, [])
            audit(
                s,
                user,
                "claim.submit",
                _subject(claim),
                {
                    "invoice": claim.invoice,
                    "sku": claim.sku,
                    "units": claim.units,
                    "amount_minor": claim.amount_minor,
                    "occurred_at": claim.occurred_at.isoformat(),
                    "photo": photo_name is not None,
                    "duplicates": duplicates,
                },
                now,
            )
    except BaseException:
        if photo_name and photo_dir:
            delete_photo(photo_dir, photo_name)  # no claim, no orphan file
        raise
    return claim


# --- duplicates --------------------------------------------------------------------------------


def duplicates_of(
    session: Session, program_id: int, line_keys: dict[int | None, str]
) -> dict[int | None, list[Mention]]:
    """For each claim id, what else already records its invoice line: events (from any source)
    and other pending or approved claims. Rejected claims do not count: that line is free."""
    keys = set(line_keys.values())
    if not keys:
        return {}
    events = session.execute(
        sa.select(col(Event.line_key), col(Event.source), col(Event.external_id)).where(
            col(Event.program_id) == program_id, col(Event.line_key).in_(keys)
        )
    ).all()
    claims = session.execute(
        sa.select(col(Claim.line_key), col(Claim.id), col(Claim.status)).where(
            col(Claim.program_id) == program_id,
            col(Claim.line_key).in_(keys),
            col(Claim.status).in_([Status.PENDING.value, Status.APPROVED.value]),
        )
    ).all()
    found: dict[int | None, list[Mention]] = {}
    for claim_id, key in line_keys.items():
        own_event = f"claim-{claim_id}"
        flags = [
            Mention(N_("sale %(id)s from %(source)s"), id=external_id, source=source)
            for line, source, external_id in events
            if line == key and not (source == SOURCE and external_id == own_event)
        ]
        flags += [
            Mention(
                N_("claim #%(id)s (pending)")
                if status == Status.PENDING
                else N_("claim #%(id)s (approved)"),
                id=other,
            )
            for line, other, status in claims
            if line == key and other != claim_id
        ]
        found[claim_id] = flags
    return found


# --- who may decide ----------------------------------------------------------------------------


def managed_regions(session: Session, user: User) -> set[int]:
    return set(
        session.execute(
            sa.select(col(UserRegion.region_id)).where(col(UserRegion.user_id) == user.id)
        ).scalars()
    )


def _check_decider(session: Session, claim: Claim, user: User) -> None:
    """Four eyes: never the submitter, never anyone of the submitter's partner, and only a
    manager of the partner's region or a program admin."""
    if user.id == claim.submitted_by or (user.rep_id is not None and user.rep_id == claim.rep_id):
        raise ClaimRefused(N_("You cannot decide your own claim."))
    if user.partner_id is not None and user.partner_id == claim.partner_id:
        raise ClaimRefused(
            N_("Claims from your own company are decided by the vendor, not by you.")
        )
    if user.role == Role.PROGRAM_ADMIN:
        return
    if user.role == Role.REGIONAL_MANAGER:
        partner = session.get(Partner, claim.partner_id)
        if partner is not None and partner.region_id in managed_regions(session, user):
            return
        raise ClaimRefused(N_("This claim is from a region you do not manage."))
    raise ClaimRefused(N_("Only regional managers and program admins decide claims."))


def may_see(session: Session, claim: Claim, user: User) -> bool:
    """The claim's rep, the people who may decide it, and nobody else."""
    if user.rep_id is not None and user.rep_id == claim.rep_id:
        return True
    try:
        _check_decider(session, claim, user)
    except ClaimRefused:
        return False
    return True


def _pending(claim: Claim | None) -> Claim:
    if claim is None:
        raise ClaimError(N_("There is no such claim."))
    if claim.status != Status.PENDING:
        raise ClaimError(N_("This claim was already %(status)s."), status=Status(claim.status))
    return claim


# --- deciding ----------------------------------------------------------------------------------


def approve_claim(
    db: Database, program: Program, claim_id: int, user: User, now: datetime
) -> Claim:
    """Post the claim through ingestion, then mark it approved (with its audit row).

    Ingestion has its own transaction, so the two steps cannot share one. The event's id is
    fixed ("claim-<id>"), which makes a retry after a crash between them harmless: ingestion
    sees the same id and changes nothing. A reject that wins the race in between is undone
    by a ledger reversal (see the end)."""
    with db.session() as s:
        claim = _pending(s.get(Claim, claim_id))
        _check_decider(s, claim, user)
        if claim.program_id != program.id:
            raise ClaimError(N_("This claim belongs to another program."))
        flags = [
            f
            for f in duplicates_of(s, program.id, {claim.id: claim.line_key}).get(claim.id, [])
            if f.message != "claim #%(id)s (pending)"  # a pending twin warns, never blocks
        ]
        if flags:
            raise ClaimError(
                N_(
                    "This invoice line is already recorded as %(records)s; "
                    "reject the claim as a duplicate."
                ),
                records=tuple(flags),
            )
        rep, partner = s.get(Rep, claim.rep_id), s.get(Partner, claim.partner_id)
        assert rep is not None and partner is not None
    external_id = external_id_of(claim)
    raw = _as_event(
        external_id,
        partner,
        rep,
        claim.sku,
        claim.units,
        Decimal(claim.amount_minor) / 100,
        claim.occurred_at,
        claim.invoice,
    )
    report = ingest_events(db, program, SOURCE, [raw], now)
    if report.rejected:
        raise ClaimError(
            N_("The sale cannot be posted: %(problem)s."), problem=report.rejected[0]["error"]
        )
    if report.duplicates and report.duplicate_of[0]["of"] != external_id:
        raise ClaimError(
            N_(
                "This invoice line was already recorded as sale %(sale)s; "
                "reject the claim as a duplicate."
            ),
            sale=report.duplicate_of[0]["of"],
        )

    with db.write() as s:
        current = s.get(Claim, claim_id, with_for_update=True)
        assert current is not None
        claim = current
        if claim.status != Status.PENDING:
            # Rejected by someone else while the sale was being posted: take the points back.
            _undo_posting(s, db, program, external_id, user, claim, now)
            s.commit()  # the reversal stands although this call fails
            raise ClaimError(
                N_("This claim was %(status)s by someone else meanwhile."),
                status=Status(claim.status),
            )
        claim.status = Status.APPROVED.value
        claim.decided_by = user.id
        claim.decided_at = now
        claim.event_external_id = external_id
        audit(
            s,
            user,
            "claim.approve",
            _subject(claim),
            {"event": external_id, "points_entries": report.entry_ids},
            now,
        )
    settle_badges(db, program, now)  # after the commit: badges the approved sale earned
    return claim


def _undo_posting(
    s: Session,
    db: Database,
    program: Program,
    external_id: str,
    user: User,
    claim: Claim,
    now: datetime,
) -> None:
    entries = s.execute(
        sa.select(col(LedgerEntry.id))
        .join(Event, col(Event.id) == col(LedgerEntry.event_id))
        .where(
            col(Event.program_id) == program.id,
            col(Event.source) == SOURCE,
            col(Event.external_id) == external_id,
            col(LedgerEntry.reverses_id).is_(None),
        )
    ).scalars()
    reversed_ids = [
        reverse_entry(s, db, entry_id, f"claim #{claim.id} was {claim.status}", now).id
        for entry_id in list(entries)
    ]
    audit(s, user, "claim.approve_undone", _subject(claim), {"reversals": reversed_ids}, now)


def reject_claim(db: Database, claim_id: int, user: User, reason: str, now: datetime) -> Claim:
    reason = " ".join(reason.split())
    if not reason:
        raise ClaimError(N_("Say why the claim is rejected; the rep sees the reason."))
    if len(reason) > MAX_REASON:
        raise ClaimError(N_("Keep the reason under %(max)s characters."), max=MAX_REASON)
    with db.write() as s:
        claim = s.get(Claim, claim_id, with_for_update=True)
        if claim is not None:
            # The ledger writers' lock: an approval posting this claim right now finishes
            # first, and is then seen below.
            lock_program_writes(s, claim.program_id)
        claim = _pending(claim)
        _check_decider(s, claim, user)
        posted = s.execute(
            sa.select(col(Event.id)).where(
                col(Event.program_id) == claim.program_id,
                col(Event.source) == SOURCE,
                col(Event.external_id) == external_id_of(claim),
            )
        ).first()
        if posted is not None:
            raise ClaimError(N_("This claim is being approved right now."))
        claim.status = Status.REJECTED.value
        claim.decided_by = user.id
        claim.decided_at = now
        claim.reason = reason
        audit(s, user, "claim.reject", _subject(claim), {"reason": reason}, now)
    return claim


# --- reading -----------------------------------------------------------------------------------


@dataclass
class ClaimRow:
    """A claim with what a page shows beside it."""

    claim: Claim
    rep_name: str
    partner_name: str
    region: str
    duplicates: list[Mention] = field(default_factory=list)


def _rows(session: Session, where: list[Any], limit: int) -> list[ClaimRow]:
    rows = session.execute(
        sa.select(Claim, col(Rep.name), col(Partner.name), col(Region.code))
        .join(Rep, col(Rep.id) == col(Claim.rep_id))
        .join(Partner, col(Partner.id) == col(Claim.partner_id))
        .join(Region, col(Region.id) == col(Partner.region_id))
        .where(*where)
        .order_by(col(Claim.submitted_at).desc(), col(Claim.id).desc())
        .limit(limit)
    ).all()
    return [ClaimRow(c, rep, partner, region) for c, rep, partner, region in rows]


def claims_of_rep(session: Session, user: User, limit: int = 50) -> list[ClaimRow]:
    if user.rep_id is None:
        return []
    return _rows(session, [col(Claim.rep_id) == user.rep_id], limit)


def claims_to_review(
    session: Session, program: Program, user: User, limit: int = 200
) -> list[ClaimRow]:
    """Pending claims this person may decide, with what each one duplicates."""
    where: list[Any] = [
        col(Claim.program_id) == program.id,
        col(Claim.status) == Status.PENDING.value,
        col(Claim.submitted_by) != user.id,
    ]
    if user.partner_id is not None:
        where.append(col(Claim.partner_id) != user.partner_id)
    if user.role == Role.REGIONAL_MANAGER:
        where.append(col(Partner.region_id).in_(managed_regions(session, user)))
    elif user.role != Role.PROGRAM_ADMIN:
        return []
    rows = _rows(session, where, limit)
    assert program.id is not None
    flags = duplicates_of(session, program.id, {r.claim.id: r.claim.line_key for r in rows})
    for row in rows:
        row.duplicates = flags.get(row.claim.id, [])
    return rows


def may_review(user: User) -> bool:
    return user.role in (Role.REGIONAL_MANAGER, Role.PROGRAM_ADMIN)
