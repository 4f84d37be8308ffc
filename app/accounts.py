"""People who log in: password hashing (argon2id), server-side sessions, roles."""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlmodel import Session, col

from app import i18n
from app.i18n import N_, Refusal
from app.mail import queue_mail
from app.models import PasswordReset, User, UserRegion, UserSession

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    REP = "rep"
    PARTNER_ADMIN = "partner_admin"
    REGIONAL_MANAGER = "regional_manager"
    PROGRAM_ADMIN = "program_admin"


SESSION_LIFETIME = timedelta(days=14)
RESET_LIFETIME = timedelta(minutes=30)
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("podium-timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError("a password needs at least 10 characters")
    return _hasher.hash(password)


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: Role,
    partner_id: int | None = None,
    rep_id: int | None = None,
    region_ids: tuple[int, ...] = (),
) -> User:
    user = User(
        email=email.strip().lower(),
        name=name,
        password_hash=hash_password(password),
        role=role.value,
        partner_id=partner_id,
        rep_id=rep_id,
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    for region_id in region_ids:
        session.add(UserRegion(user_id=user.id, region_id=region_id))
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user for these credentials, or None — the same answer (and time) for an unknown
    email, a wrong password and a disabled account."""
    user: User | None = session.execute(
        sa.select(User).where(col(User.email) == email.strip().lower())
    ).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_digest(token: str) -> str:
    """What is stored of an emailed secret (reset links, invitations): its SHA-256. The token is
    random (256 bits), so a slow password hash would add nothing."""
    return _token_hash(token)


@dataclass(frozen=True)
class Login:
    user: User
    session: UserSession


def start_session(session: Session, user: User, now: datetime) -> str:
    """Record a session and return the cookie token (only its hash is stored)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return token


def resume_session(session: Session, token: str, now: datetime) -> Login | None:
    row = session.execute(
        sa.select(UserSession, User)
        .join(User, col(User.id) == col(UserSession.user_id))
        .where(col(UserSession.token_hash) == _token_hash(token))
    ).first()
    if row is None:
        return None
    record, user = row
    if record.revoked_at is not None or record.expires_at <= now or user.disabled_at is not None:
        return None
    return Login(user=user, session=record)


def end_session(session: Session, token: str, now: datetime) -> None:
    session.execute(
        sa.update(UserSession)
        .where(
            col(UserSession.token_hash) == _token_hash(token), col(UserSession.revoked_at).is_(None)
        )
        .values(revoked_at=now)
    )


def end_all_sessions(session: Session, user: User, now: datetime) -> None:
    """Revoke every session of ``user`` at once (password change, disabling)."""
    session.execute(
        sa.update(UserSession)
        .where(col(UserSession.user_id) == user.id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def change_password(session: Session, user: User, new_password: str, now: datetime) -> None:
    """Set a new password and end every session: a stolen cookie dies with the old password."""
    user.password_hash = hash_password(new_password)
    session.add(user)
    end_all_sessions(session, user, now)


def disable_user(session: Session, user: User, now: datetime) -> None:
    user.disabled_at = now
    session.add(user)
    end_all_sessions(session, user, now)


# --- Password reset by emailed link ---


class ResetLinkGone(Refusal):
    """A reset link that exists but no longer works (used, expired or replaced by a newer one)."""


class PasswordRejected(Refusal):
    """The new password (or its confirmation) cannot be accepted; the message says why."""


def check_new_password(password: str, confirm: str) -> None:
    """Raise PasswordRejected unless ``password`` may become someone's password."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(
            N_("Choose a password of at least %(count)s characters."), count=MIN_PASSWORD
        )
    if password != confirm:
        raise PasswordRejected(N_("The two passwords differ. Type the same password twice."))


def send_reset_link(session: Session, email: str, lang: str, base_url: str, now: datetime) -> bool:
    """Email a reset link to the active account with this email, revoking its older unused
    links. Returns whether one was sent; callers must not tell the asker (no enumeration)."""
    user = session.execute(
        sa.select(User).where(col(User.email) == email.strip().lower())
    ).scalar_one_or_none()
    if user is None or user.disabled_at is not None:
        return False
    assert user.id is not None
    session.execute(
        sa.update(PasswordReset)
        .where(
            col(PasswordReset.user_id) == user.id,
            col(PasswordReset.used_at).is_(None),
            col(PasswordReset.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + RESET_LIFETIME,
        )
    )
    language = user.language or lang  # the account's language, else the asker's browser's
    link = f"{base_url.rstrip('/')}/password/reset/{token}"
    queue_mail(
        session,
        user.email,
        i18n.gettext(language, "Reset your Podium password"),
        i18n.gettext(
            language,
            "Hello %(name)s,\n\n"
            "Someone, hopefully you, asked to reset the password of your Podium account. "
            "Open this link within %(minutes)s minutes to choose a new password:\n\n"
            "%(link)s\n\n"
            "The link works once. If you did not ask for it, ignore this email: "
            "your password stays as it is.\n",
            name=user.name,
            minutes=int(RESET_LIFETIME.total_seconds() // 60),
            link=link,
        ),
        now,
    )
    return True


def open_reset_link(session: Session, token: str, now: datetime) -> PasswordReset | None:
    """The reset this token belongs to, None for an unknown token; ResetLinkGone if it was
    used, replaced or has expired."""
    reset: PasswordReset | None = session.execute(
        sa.select(PasswordReset).where(col(PasswordReset.token_hash) == _token_hash(token))
    ).scalar_one_or_none()
    if reset is None:
        return None
    if reset.used_at is not None:
        raise ResetLinkGone(N_("This link was already used. Ask for a new one if you need it."))
    if reset.revoked_at is not None:
        raise ResetLinkGone(
            N_(
                "A newer link was sent since this one, so this one no longer works. "
                "Use the newest email, or ask for a new link."
            )
        )
    if reset.expires_at <= now:
        raise ResetLinkGone(N_("This link has expired. Ask for a new one."))
    return reset


def reset_password(
    session: Session, token: str, password: str, confirm: str, now: datetime
) -> User | None:
    """Set the password of the link's account and end every session of it; the link is spent.
    None for an unknown token; ResetLinkGone or PasswordRejected otherwise."""
    reset = open_reset_link(session, token, now)
    if reset is None:
        return None
    check_new_password(password, confirm)
    # Spend the link first, conditionally: of two racing submissions only one passes.
    spent = session.execute(
        sa.update(PasswordReset)
        .where(col(PasswordReset.id) == reset.id, col(PasswordReset.used_at).is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise ResetLinkGone(N_("This link was already used. Ask for a new one if you need it."))
    user = session.get(User, reset.user_id)
    assert user is not None
    if user.disabled_at is not None:
        raise ResetLinkGone(N_("This account is disabled. Ask your program admin."))
    change_password(session, user, password, now)
    return user


class ResetRequestLimiter:
    """Reset links asked for, limited per email and per address (moving window, like logins in
    app/ratelimit.py): a mailbox is not flooded, and the answer to a limited request is the
    same for an unknown email as for a known one."""

    PER_EMAIL = parse("3/15 minutes")
    PER_ADDRESS = parse("20/hour")

    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def wait_seconds(self, email: str, address: str) -> int:
        """Record a request; 0 if it may go ahead, else how many seconds until one may."""
        checks: list[tuple[RateLimitItem, str, str]] = [
            (self.PER_EMAIL, "email", email.strip().lower()),
            (self.PER_ADDRESS, "address", address),
        ]
        try:
            for item, kind, key in checks:
                if not self._limiter.test(item, "password-reset", kind, key):
                    stats = self._limiter.get_window_stats(item, "password-reset", kind, key)
                    return max(1, int(stats.reset_time - time.time()) + 1)
            for item, kind, key in checks:
                self._limiter.hit(item, "password-reset", kind, key)
        except Exception:  # a limiter that is down must not stop people getting back in
            log.exception("password reset rate limiter unavailable; allowing the request")
        return 0
