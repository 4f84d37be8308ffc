"""CSV import: the same validation and path as the API, a report of every bad row.

Problems found here are English message ids (``app.i18n``): the admin page shows them in the
reader's language, the CLI in English. A row refused by ingestion keeps ingestion's English
sentence, which the JSON API returns word for word.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from app.badges import settle_badges
from app.db import Database
from app.i18n import N_, Refusal
from app.ingest import EventIn, ingest_events
from app.models import ImportRun, Program

COLUMNS = tuple(EventIn.model_fields)  # id,type,partner,rep,sku,units,amount,occurred_at,invoice
REQUIRED = ("id", "type", "partner", "occurred_at")
CHUNK = 1000


class ImportRefused(Refusal, ValueError):
    """A file that cannot be imported at all (wrong header, not UTF-8): nothing was imported."""


@dataclass
class RowError:
    line: int
    error: str  # English: as the CLI prints it and ingestion words it
    problem: Refusal | None = None  # a problem found by this module, said in any language

    def text(self, lang: str) -> str:
        return self.problem.text(lang) if self.problem is not None else self.error


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _typed(row: dict[str, str]) -> dict[str, Any]:
    """CSV cells are text; turn the numeric ones into numbers (an empty cell means absent)."""
    out: dict[str, Any] = {
        k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""
    }
    # A cell that is not a number stays text, so validation says "must be a number".
    if "units" in out:
        with contextlib.suppress(ValueError):
            out["units"] = int(out["units"])
    if "amount" in out:
        with contextlib.suppress(InvalidOperation):
            out["amount"] = Decimal(out["amount"].replace(",", ""))
    return out


def read_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | Refusal]]:
    """(line number, event dict) per data row, or (line, problem) for a row that cannot be read."""
    reader = csv.DictReader(stream)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportRefused(
            N_("The CSV header is missing %(missing)s; expected columns: %(expected)s."),
            missing=", ".join(missing),
            expected=",".join(COLUMNS),
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ImportRefused(
            N_("The CSV header has unknown columns %(unknown)s; expected: %(expected)s."),
            unknown=", ".join(unknown),
            expected=",".join(COLUMNS),
        )
    reader.fieldnames = header
    for row in reader:
        line = reader.line_num
        if None in row:  # more cells than header columns
            yield (
                line,
                Refusal(
                    N_("%(cells)s cells but the header has %(columns)s"),
                    cells=len(header) + len(row[None]),
                    columns=len(header),
                ),
            )
            continue
        yield line, _typed(row)


def import_csv(
    db: Database,
    program: Program,
    stream: IO[str],
    now: datetime,
    filename: str = "upload.csv",
    source: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a whole file in chunks of 1,000 rows; re-importing the same file adds nothing."""
    report = ImportReport()
    batch: list[dict[str, Any]] = []
    lines: list[int] = []

    def flush() -> None:
        if not batch:
            return
        result = ingest_events(db, program, source, batch, now)
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        report.errors.extend(RowError(lines[r["index"]], r["error"]) for r in result.rejected)
        if progress:
            progress(len(batch))
        batch.clear()
        lines.clear()

    for line, row in read_rows(stream):
        report.rows += 1
        if isinstance(row, Refusal):
            report.errors.append(RowError(line, str(row), row))
            continue
        batch.append(row)
        lines.append(line)
        if len(batch) >= CHUNK:
            flush()
    flush()
    report.errors.sort(key=lambda e: e.line)
    with db.write() as s:
        assert program.id is not None
        s.add(
            ImportRun(
                program_id=program.id,
                filename=filename[:255],
                source=source,
                rows=report.rows,
                accepted=report.accepted,
                duplicates=report.duplicates,
                rejected=report.rejected,
                created_at=now,
            )
        )
    if report.accepted:  # after the commits: badges the imported sales earned
        settle_badges(db, program, now)
    return report


def decode_upload(data: bytes) -> io.StringIO:
    """Uploaded bytes as text: UTF-8 (with or without BOM, as Excel writes it)."""
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        raise ImportRefused(
            N_("The file is not UTF-8 text; in Excel choose 'CSV UTF-8' when saving.")
        ) from None
