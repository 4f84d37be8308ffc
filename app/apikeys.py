"""API keys for integrations: shown once at creation, stored as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from app.models import ApiKey, Program

PREFIX = "pdm_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, program: Program, name: str, source: str | None = None) -> str:
    """Create a key and return its secret, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("an API key needs a name of 1 to 80 characters, e.g. 'erp-sap'")
    assert program.id is not None
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            name=name,
            source=(source or name).strip(),
            program_id=program.id,
            prefix=secret[: len(PREFIX) + 6],
            secret_hash=_digest(secret),
        )
    )
    session.flush()
    return secret


def find_api_key(session: Session, secret: str) -> ApiKey | None:
    if not secret.startswith(PREFIX):
        return None
    return session.execute(
        sa.select(ApiKey).where(
            col(ApiKey.secret_hash) == _digest(secret), col(ApiKey.revoked_at).is_(None)
        )
    ).scalar_one_or_none()


def revoke_api_key(session: Session, key: ApiKey, now: datetime) -> None:
    key.revoked_at = now
    session.add(key)
