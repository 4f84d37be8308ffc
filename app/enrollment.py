"""Enrollment: partners and their people join the program by emailed invitation.

A program admin invites a partner's admin, one by one or from a CSV file; the partner is created
on the way if it is new. A partner admin invites its own reps, never anyone else's. An
invitation is a single-use link that expires after 7 days (only its SHA-256 is stored); opening
it, choosing a password and accepting the program rules makes its recipient a user of that
partner. Each invitation, its email (the outbox) and its audit entry are written in one
transaction.
"""

from __future__ import annotations

import csv
import enum
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app import i18n
from app.accounts import Role, check_new_password, create_user, token_digest
from app.db import Database
from app.formatting import SUPPORTED
from app.i18n import N_, Refusal
from app.imports import RowError
from app.mail import queue_mail
from app.models import AuditEntry, Invitation, League, Partner, Region, Rep, User
from app.programs import current_program

INVITATION_LIFETIME = timedelta(days=7)
CSV_COLUMNS = (
    "partner_code",
    "partner_name",
    "city",
    "region",
    "league",
    "admin_name",
    "admin_email",
)
CSV_OPTIONAL = ("language",)  # en or id: the language of the invitation email
MAX_CSV_ROWS = 5000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class EnrollmentError(Refusal):
    """An invitation that cannot be sent, changed or accepted as asked; the message says why."""


class EnrollmentRefused(EnrollmentError):
    """This person may not do this (a 403, not a form mistake)."""


class InvitationGone(Refusal):
    """An invitation link that exists but no longer works (used, revoked or expired)."""


class Status(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REVOKED = "revoked"


def status_of(invitation: Invitation, now: datetime) -> Status:
    if invitation.accepted_at is not None:
        return Status.ACCEPTED
    if invitation.revoked_at is not None:
        return Status.REVOKED
    if invitation.expires_at <= now:
        return Status.EXPIRED
    return Status.PENDING


@dataclass(frozen=True)
class PartnerInvite:
    """What a program admin typed (or a CSV row held), as text."""

    partner_code: str
    partner_name: str
    city: str
    region: str  # a region's code or name
    league: str  # a league's code or name
    admin_name: str
    admin_email: str
    language: str = ""


@dataclass(frozen=True)
class RepInvite:
    name: str
    email: str
    language: str = ""


@dataclass(frozen=True)
class Acceptance:
    """What the invitee typed on the invitation page."""

    name: str
    password: str
    confirm: str
    accepted_rules: bool


@dataclass
class InvitationImport:
    rows: int = 0
    invited: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class InvitationRow:
    invitation: Invitation
    status: Status
    partner_code: str
    partner_name: str
    invited_by: str


# --- Sending ---


def invite_partner_admin(
    session: Session,
    inviter: User,
    form: PartnerInvite,
    now: datetime,
    base_url: str,
    lang: str,
) -> Invitation:
    """Invite the admin of a partner, creating the partner if its code is new. Everything is
    checked before anything is written, so a refused invitation leaves no partner behind."""
    if inviter.role != Role.PROGRAM_ADMIN:
        raise EnrollmentRefused(N_("Only program admins invite partners."))
    name = _person_name(form.admin_name)
    email = _free_email(session, form.admin_email, now)
    partner = _partner_for(session, form)
    return _invite(
        session,
        inviter,
        partner,
        Role.PARTNER_ADMIN,
        name,
        email,
        form.language or lang,
        now,
        base_url,
    )


def invite_rep(
    session: Session,
    inviter: User,
    partner_id: int,
    form: RepInvite,
    now: datetime,
    base_url: str,
    lang: str,
) -> Invitation:
    """A partner admin invites a rep of its own company (a program admin may for any)."""
    if not may_manage_team(inviter, partner_id):
        raise EnrollmentRefused(N_("You can only invite people to your own company."))
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise EnrollmentError(N_("That partner does not exist."))
    name = _person_name(form.name)
    email = _free_email(session, form.email, now)
    return _invite(
        session, inviter, partner, Role.REP, name, email, form.language or lang, now, base_url
    )


def may_manage_team(user: User, partner_id: int) -> bool:
    """Only the partner's own admin, or a program admin, changes who is in its team."""
    if user.role == Role.PROGRAM_ADMIN:
        return True
    return user.role == Role.PARTNER_ADMIN and user.partner_id == partner_id


def import_invitations(
    db: Database, inviter: User, stream: IO[str], now: datetime, base_url: str, lang: str
) -> InvitationImport:
    """Invite a partner admin per CSV row. Every bad row is reported with its line number and
    the good ones are invited, all in one transaction: the upload is kept whole or not at all."""
    if inviter.role != Role.PROGRAM_ADMIN:
        raise EnrollmentRefused(N_("Only program admins invite partners."))
    reader = csv.DictReader(stream)
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    expected = ", ".join(CSV_COLUMNS)
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise EnrollmentError(
            N_("The CSV header is missing %(missing)s. Expected columns: %(expected)s."),
            missing=", ".join(missing),
            expected=expected,
        )
    unknown = [h for h in header if h not in CSV_COLUMNS + CSV_OPTIONAL]
    if unknown:
        raise EnrollmentError(
            N_("The CSV has unknown columns %(unknown)s. Expected columns: %(expected)s."),
            unknown=", ".join(unknown),
            expected=expected,
        )
    reader.fieldnames = header
    report = InvitationImport()
    with db.write() as s:
        for row in reader:
            report.rows += 1
            if report.rows > MAX_CSV_ROWS:
                raise EnrollmentError(
                    N_("The file has more than %(limit)s rows. Split it into smaller files."),
                    limit=MAX_CSV_ROWS,
                )
            line = reader.line_num
            if None in row:
                report.errors.append(
                    RowError(
                        line,
                        i18n.gettext(
                            lang,
                            "This row has %(cells)s cells but the header has %(columns)s.",
                            cells=len(header) + len(row[None]),
                            columns=len(header),
                        ),
                    )
                )
                continue
            values = {k: (v or "").strip() for k, v in row.items()}
            try:
                invite_partner_admin(s, inviter, PartnerInvite(**values), now, base_url, lang)
            except EnrollmentError as exc:
                report.errors.append(RowError(line, exc.text(lang)))
                continue
            s.flush()  # later rows see this row's partner and email
            report.invited += 1
    return report


def _invite(
    session: Session,
    inviter: User,
    partner: Partner,
    role: Role,
    name: str,
    email: str,
    language: str,
    now: datetime,
    base_url: str,
) -> Invitation:
    if partner.id is None:
        session.add(partner)
        session.flush()
    assert partner.id is not None
    invitation = Invitation(
        token_hash="",
        email=email,
        name=name,
        role=role.value,
        partner_id=partner.id,
        language=language if language in SUPPORTED else "en",
        invited_by=inviter.id,
        created_at=now,
        sent_at=now,
        expires_at=now,
    )
    _send(session, invitation, partner, inviter, now, base_url)
    session.add(invitation)
    session.flush()
    _audit(session, inviter, "invite", invitation, {"email": email, "role": role.value}, now)
    return invitation


def _send(
    session: Session,
    invitation: Invitation,
    partner: Partner,
    inviter: User,
    now: datetime,
    base_url: str,
) -> None:
    """Give ``invitation`` a fresh token and expiry (an older link stops working) and queue
    its email, in the invitee's language."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_digest(token)
    invitation.sent_at = now
    invitation.expires_at = now + INVITATION_LIFETIME
    lang = invitation.language
    program = current_program(session)
    values: dict[str, Any] = {
        "name": invitation.name,
        "inviter": inviter.name,
        "partner": partner.name,
        "program": program.name if program else "Podium",
        "days": INVITATION_LIFETIME.days,
        "link": f"{base_url.rstrip('/')}/invite/{token}",
    }
    if invitation.role == Role.PARTNER_ADMIN:
        what = i18n.gettext(
            lang,
            "%(inviter)s invites you to %(program)s on Podium as the admin of %(partner)s. "
            "You will see your company's standing and invite your sales team.",
            **values,
        )
    else:
        what = i18n.gettext(
            lang,
            "%(inviter)s invites you to %(program)s on Podium, in the team of %(partner)s. "
            "Your sales earn points, and you see your rank live.",
            **values,
        )
    body = i18n.gettext(
        lang,
        "Hello %(name)s,\n\n%(what)s\n\n"
        "Open this link within %(days)s days to choose your password and join:\n\n"
        "%(link)s\n\n"
        "The link works once. If you did not expect this email, ignore it.\n",
        what=what,
        **values,
    )
    subject = i18n.gettext(lang, "Your invitation to %(program)s", **values)
    queue_mail(session, invitation.email, subject, body, now)


# --- Checks of what was typed ---


def _person_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise EnrollmentError(N_("Type the person's name."))
    if len(name) > 160:
        raise EnrollmentError(N_("The name is longer than 160 characters."))
    return name


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _free_email(session: Session, email: str, now: datetime) -> str:
    """The email, normalised, if no account and no pending invitation has it yet."""
    email = normalise_email(email)
    if not email:
        raise EnrollmentError(N_("Type the person's email address."))
    if len(email) > 254 or not _EMAIL.match(email):
        raise EnrollmentError(N_("“%(email)s” is not an email address."), email=email[:80])
    taken = session.execute(
        sa.select(sa.func.count()).select_from(User).where(col(User.email) == email)
    ).scalar_one()
    if taken:
        raise EnrollmentError(N_("There is already an account for %(email)s."), email=email)
    pending = session.execute(
        sa.select(sa.func.count())
        .select_from(Invitation)
        .where(
            col(Invitation.email) == email,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
    ).scalar_one()
    if pending:
        raise EnrollmentError(
            N_("%(email)s already has a pending invitation. Resend it from the list instead."),
            email=email,
        )
    return email


def _partner_for(session: Session, form: PartnerInvite) -> Partner:
    """The existing partner with this code (its stored details must not be contradicted), or a
    new, not yet added one."""
    code = form.partner_code.strip()
    if not code:
        raise EnrollmentError(N_("Type the partner code."))
    if len(code) > 40 or not _CODE.match(code):
        raise EnrollmentError(
            N_("The partner code “%(code)s” may only hold letters, digits and . _ / - (up to 40)."),
            code=code[:60],
        )
    partner: Partner | None = session.execute(
        sa.select(Partner).where(col(Partner.code) == code)
    ).scalar_one_or_none()
    name = " ".join(form.partner_name.split())
    if partner is not None:
        if name and name.casefold() != partner.name.casefold():
            raise EnrollmentError(
                N_(
                    "Partner %(code)s already exists as “%(name)s”. Use that name or leave it "
                    "empty."
                ),
                code=code,
                name=partner.name,
            )
        for given, stored_id, table in (
            (form.region, partner.region_id, Region),
            (form.league, partner.league_id, League),
        ):
            if given and _lookup(session, table, given) != stored_id:
                raise EnrollmentError(
                    N_(
                        "Partner %(code)s already exists with another region or league. Use the "
                        "stored ones or leave them empty."
                    ),
                    code=code,
                )
        return partner
    if not name:
        raise EnrollmentError(N_("Type the name of the new partner %(code)s."), code=code)
    if len(name) > 160:
        raise EnrollmentError(N_("The partner name is longer than 160 characters."))
    region_id = _lookup(session, Region, form.region)
    if region_id is None:
        raise EnrollmentError(
            N_("There is no region “%(given)s”. Known regions: %(known)s."),
            given=form.region[:60],
            known=_known(session, Region),
        )
    league_id = _lookup(session, League, form.league)
    if league_id is None:
        raise EnrollmentError(
            N_("There is no league “%(given)s”. Known leagues: %(known)s."),
            given=form.league[:60],
            known=_known(session, League),
        )
    return Partner(
        code=code,
        name=name,
        city=" ".join(form.city.split())[:120],
        region_id=region_id,
        league_id=league_id,
    )


def _lookup(session: Session, table: type[Region] | type[League], given: str) -> int | None:
    """A region's or league's id by its code or its name, in any case."""
    given = given.strip().casefold()
    if not given:
        return None
    found = (
        session.execute(
            sa.select(table.id).where(  # type: ignore[call-overload]
                sa.or_(
                    sa.func.lower(col(table.code)) == given,
                    sa.func.lower(col(table.name)) == given,
                )
            )
        )
        .scalars()
        .first()
    )
    return int(found) if found is not None else None


def _known(session: Session, table: type[Region] | type[League]) -> str:
    codes = session.execute(sa.select(col(table.code)).order_by(col(table.code))).scalars()
    return ", ".join(codes) or "-"


# --- Resending and revoking ---


def _managed_invitation(session: Session, actor: User, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    # "Not yours" and "no such invitation" get the same answer: ids reveal nothing.
    if invitation is None or not (
        actor.role == Role.PROGRAM_ADMIN
        or (invitation.role == Role.REP and may_manage_team(actor, invitation.partner_id))
    ):
        raise EnrollmentRefused(N_("There is no such invitation for you to change."))
    return invitation


def resend_invitation(
    session: Session, actor: User, invitation_id: int, now: datetime, base_url: str
) -> Invitation:
    """A new link (the previous one stops working) with a new 7 days, emailed again."""
    invitation = _managed_invitation(session, actor, invitation_id)
    if invitation.accepted_at is not None:
        raise EnrollmentError(
            N_("%(email)s already accepted this invitation."), email=invitation.email
        )
    if invitation.revoked_at is not None:
        raise EnrollmentError(
            N_("This invitation was revoked. Invite %(email)s again instead."),
            email=invitation.email,
        )
    partner = session.get(Partner, invitation.partner_id)
    assert partner is not None
    _send(session, invitation, partner, actor, now, base_url)
    session.add(invitation)
    _audit(session, actor, "invitation_resent", invitation, {}, now)
    return invitation


def revoke_invitation(
    session: Session, actor: User, invitation_id: int, now: datetime
) -> Invitation:
    invitation = _managed_invitation(session, actor, invitation_id)
    if invitation.accepted_at is not None:
        raise EnrollmentError(
            N_("%(email)s already accepted this invitation; it can no longer be revoked."),
            email=invitation.email,
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = now
        session.add(invitation)
        _audit(session, actor, "invitation_revoked", invitation, {}, now)
    return invitation


# --- Accepting ---


def open_invitation(session: Session, token: str, now: datetime) -> Invitation | None:
    """The invitation of this link, None for an unknown one; InvitationGone if it was used,
    revoked or has expired."""
    invitation: Invitation | None = session.execute(
        sa.select(Invitation).where(col(Invitation.token_hash) == token_digest(token))
    ).scalar_one_or_none()
    if invitation is None:
        return None
    if invitation.accepted_at is not None:
        raise InvitationGone(
            N_(
                "This invitation was already used. Log in with the password chosen then, or "
                "reset it from the login page."
            )
        )
    if invitation.revoked_at is not None:
        raise InvitationGone(
            N_("This invitation was withdrawn. Ask whoever invited you for a new one.")
        )
    if invitation.expires_at <= now:
        raise InvitationGone(
            N_("This invitation has expired. Ask whoever invited you to send it again.")
        )
    return invitation


def accept_invitation(session: Session, token: str, form: Acceptance, now: datetime) -> User | None:
    """Make the invitee a user of the invitation's partner (and a rep, for a rep invitation).
    None for an unknown token; InvitationGone, EnrollmentError or PasswordRejected otherwise."""
    invitation = open_invitation(session, token, now)
    if invitation is None:
        return None
    name = " ".join(form.name.split()) or invitation.name
    if len(name) > 160:
        raise EnrollmentError(N_("The name is longer than 160 characters."))
    check_new_password(form.password, form.confirm)
    if not form.accepted_rules:
        raise EnrollmentError(N_("Tick “I accept the program rules” to join."))
    taken = session.execute(
        sa.select(sa.func.count()).select_from(User).where(col(User.email) == invitation.email)
    ).scalar_one()
    if taken:
        raise EnrollmentError(
            N_("There is already an account for %(email)s. Log in instead."),
            email=invitation.email,
        )
    # Spend the invitation first, conditionally: of two racing acceptances only one passes.
    spent = session.execute(
        sa.update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(accepted_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise InvitationGone(N_("This invitation was already used."))
    # One acceptance at a time per partner, so two new reps never get the same code.
    partner = session.execute(
        sa.select(Partner).where(col(Partner.id) == invitation.partner_id).with_for_update()
    ).scalar_one()
    assert partner.id is not None
    rep_id: int | None = None
    if invitation.role == Role.REP:
        code = _next_rep_code(session, partner)
        rep = Rep(code=code, name=name, email=invitation.email, partner_id=partner.id)
        session.add(rep)
        session.flush()
        rep_id = rep.id
    user = create_user(
        session, invitation.email, name, form.password, Role(invitation.role), partner.id, rep_id
    )
    session.execute(
        sa.update(Invitation).where(col(Invitation.id) == invitation.id).values(user_id=user.id)
    )
    _audit(
        session,
        user,
        "invitation_accepted",
        invitation,
        {"rules_accepted_at": now.isoformat()},
        now,
    )
    return user


def _next_rep_code(session: Session, partner: Partner) -> str:
    """The partner's code and the next free two-digit number: JTM-0014-03."""
    prefix = f"{partner.code[:36]}-"
    used = set(
        session.execute(
            sa.select(col(Rep.code)).where(col(Rep.code).startswith(prefix, autoescape=True))
        ).scalars()
    )
    numbers = [int(c[len(prefix) :]) for c in used if c[len(prefix) :].isdigit()]
    n = max(numbers, default=0) + 1
    while f"{prefix}{n:02d}" in used:
        n += 1
    return f"{prefix}{n:02d}"


# --- Lists ---


def invitations_for(
    session: Session, now: datetime, partner_id: int | None = None, limit: int = 500
) -> list[InvitationRow]:
    """Newest first: every invitation, or one partner's."""
    query = (
        sa.select(Invitation, Partner.code, Partner.name, User.name)  # type: ignore[call-overload]
        .join(Partner, col(Partner.id) == col(Invitation.partner_id))
        .outerjoin(User, col(User.id) == col(Invitation.invited_by))
        .order_by(col(Invitation.sent_at).desc(), col(Invitation.id).desc())
        .limit(limit)
    )
    if partner_id is not None:
        query = query.where(col(Invitation.partner_id) == partner_id)
    return [
        InvitationRow(
            invitation=invitation,
            status=status_of(invitation, now),
            partner_code=code,
            partner_name=name,
            invited_by=inviter or "",
        )
        for invitation, code, name, inviter in session.execute(query)
    ]


def team_of(session: Session, partner_id: int) -> list[Rep]:
    return list(
        session.execute(
            sa.select(Rep).where(col(Rep.partner_id) == partner_id).order_by(col(Rep.name))
        ).scalars()
    )


def _audit(
    session: Session,
    actor: User | None,
    action: str,
    invitation: Invitation,
    details: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor_user_id=actor.id if actor else None,
            action=action,
            subject=f"invitation:{invitation.id}",
            details=details,
        )
    )
