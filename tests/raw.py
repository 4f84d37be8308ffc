"""Raw database connections, for proving what the database itself refuses."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
import pytest
import sqlalchemy as sa

from app.db import Database


def assert_postgres_refuses(
    db: Database, statements: Iterable[str], match: str
) -> psycopg.Connection:
    """Run each statement over a plain psycopg connection (no app code in the way) and expect
    the database to raise; return the open connection for checks on what is left."""
    dsn = sa.make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = psycopg.connect(dsn, autocommit=True)
    for statement in statements:
        with pytest.raises(psycopg.errors.RaiseException, match=match):
            raw.execute(statement)
    return raw
