"""The schema: migrations match the models, and the ledger refuses change at the database."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.db import Database
from app.ingest import ingest_events
from app.programs import current_program
from tests.app.conftest import NOW
from tests.factories import make_world, sale
from tests.raw import assert_postgres_refuses


def test_migrations_and_models_agree(any_db: Database) -> None:
    with any_db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"


def _one_entry(db: Database) -> None:
    make_world(db)
    with db.session() as s:
        program = current_program(s)
    assert ingest_events(db, program, "erp", [sale("e1")], now=NOW).accepted == 1


def test_sqlite_refuses_update_and_delete_of_ledger_entries_over_a_raw_connection(
    sqlite_db: Database,
) -> None:
    _one_entry(sqlite_db)
    path = sqlite_db.url.removeprefix("sqlite:///")
    raw = sqlite3.connect(path)
    try:
        for statement in ("UPDATE ledger_entry SET points = 999999", "DELETE FROM ledger_entry"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
        assert raw.execute("SELECT points FROM ledger_entry").fetchall() == [(10,)]
    finally:
        raw.close()


@pytest.mark.postgres
def test_postgres_refuses_update_delete_and_truncate_of_ledger_entries(
    postgres_db: Database,
) -> None:
    _one_entry(postgres_db)
    statements = (
        "UPDATE ledger_entry SET points = 999999",
        "DELETE FROM ledger_entry",
        "TRUNCATE ledger_entry CASCADE",
    )
    with assert_postgres_refuses(postgres_db, statements, match="append-only") as raw:
        assert raw.execute("SELECT points FROM ledger_entry").fetchall() == [(10,)]


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
