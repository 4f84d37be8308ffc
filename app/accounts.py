"""People who log in: password hashing (argon2id), server-side sessions, roles."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col

from app.models import User, UserRegion, UserSession


class Role(enum.StrEnum):
    REP = "rep"
    PARTNER_ADMIN = "partner_admin"
    REGIONAL_MANAGER = "regional_manager"
    PROGRAM_ADMIN = "program_admin"


SESSION_LIFETIME = timedelta(days=14)
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("podium-timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < 10:
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
