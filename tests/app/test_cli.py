from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import ApiKey, Event
from tests.app.test_pages import CSV
from tests.factories import make_world


def podium(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db.url}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["serve"], ["migrate"], ["import"], ["apikey"], ["apikey", "create"]]
)
def test_every_command_has_help(command: list[str], sqlite_db: Database) -> None:
    result = podium(sqlite_db, *command, "--help")
    assert result.returncode == 0 and "usage: podium" in result.stdout


def test_import_reports_bad_rows_by_line_and_a_second_import_adds_nothing(
    sqlite_db: Database, tmp_path: Path
) -> None:
    make_world(sqlite_db)
    csv = tmp_path / "sales.csv"
    csv.write_text(CSV, encoding="utf-8")
    first = podium(sqlite_db, "import", str(csv))
    second = podium(sqlite_db, "import", str(csv))
    assert first.returncode == 1, first.stderr
    assert "4 rows: 2 imported, 0 already there, 2 rejected" in first.stdout
    assert "line 3: SKU 'NOPE' is not in the product catalog" in first.stdout
    assert "line 4: units must be a whole number" in first.stdout
    assert "4 rows: 0 imported, 2 already there, 2 rejected" in second.stdout
    assert (
        "row/s" in first.stderr or "rows/s" in first.stderr or "100%" in first.stderr
    )  # progress bar
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == 2


def test_import_of_a_missing_file_or_bad_header_says_what_is_wrong(
    sqlite_db: Database, tmp_path: Path
) -> None:
    make_world(sqlite_db)
    assert "does not exist" in podium(sqlite_db, "import", str(tmp_path / "nope.csv")).stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("invoice,amount\nX,1\n")
    result = podium(sqlite_db, "import", str(bad))
    assert (
        result.returncode == 2
        and "header is missing id, type, partner, occurred_at" in result.stderr
    )


def test_apikey_create_prints_a_working_key_once(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    result = podium(sqlite_db, "apikey", "create", "dms-jabar")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("pdm_")
    with sqlite_db.session() as s:
        stored = s.execute(sa.select(ApiKey).where(ApiKey.name == "dms-jabar")).scalar_one()
    assert secret not in (stored.secret_hash, stored.prefix)
