from datetime import UTC, datetime

import sqlalchemy as sa

from app.db import Database
from app.ingest import ingest_events
from app.models import Event, LedgerEntry, PeriodTotal
from tests.factories import make_world, sale

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _ingest(db: Database, events: list, source: str = "erp"):
    world_program = db.session().execute(sa.text("select 1")).scalar()
    assert world_program == 1
    from app.programs import current_program

    with db.session() as s:
        program = current_program(s)
    return ingest_events(db, program, source, events, now=NOW)


def test_a_sale_posts_one_earn_entry_and_updates_totals(any_db: Database) -> None:
    make_world(any_db)
    report = _ingest(any_db, [sale("e1", units=3)])
    assert (report.accepted, report.duplicates, report.rejected) == (1, 0, [])
    with any_db.session() as s:
        entries = s.execute(sa.select(LedgerEntry)).scalars().all()
        assert [(e.kind, e.points, e.period_key) for e in entries] == [("earn", 30, "2026-11")]
        totals = {
            (t.period_key, t.kind): (t.points, t.units)
            for t in s.execute(sa.select(PeriodTotal)).scalars()
        }
    assert totals[("2026-11", "rep")] == (30, 3)
    assert totals[("all", "partner")] == (30, 3)


def test_resending_the_same_id_changes_nothing(any_db: Database) -> None:
    make_world(any_db)
    _ingest(any_db, [sale("e1")])
    report = _ingest(any_db, [sale("e1"), sale("e1")])
    assert (report.accepted, report.duplicates) == (0, 2)


def test_same_id_with_different_details_is_rejected_with_a_reason(any_db: Database) -> None:
    make_world(any_db)
    _ingest(any_db, [sale("e1", units=1)])
    report = _ingest(any_db, [sale("e1", units=2)])
    assert report.accepted == 0
    assert "already received with different details" in report.rejected[0]["error"]


def test_same_invoice_line_written_differently_is_a_duplicate(any_db: Database) -> None:
    make_world(any_db)
    _ingest(any_db, [sale("e1", invoice="INV-0042")])
    report = _ingest(
        any_db,
        [
            sale("e2", invoice="inv 42"),
            sale("e3", invoice=" Inv/00042 ", rep="R00001"),
            sale("e4", invoice="INV-0042", sku="AC-1PK"),  # another line of the same invoice
        ],
    )
    assert (report.accepted, report.duplicates) == (1, 2)


def test_bad_events_are_reported_by_index_and_good_ones_kept(sqlite_db: Database) -> None:
    make_world(sqlite_db)
    report = _ingest(
        sqlite_db,
        [
            sale("ok1"),
            sale("bad1", units="5"),  # type: ignore[arg-type]
            sale("bad2", partner="NOPE"),
            sale("bad3", sku="XX"),
            sale("bad4", occurred_at="2026-11-20 10:00"),
            sale("bad5", units=-1),
            sale("bad6", units=10**9),
            sale("bad7", rep="R00100"),  # rep of another partner
            {"id": "bad8", "type": "sale"},
            sale("bad9", occurred_at="2030-01-01T00:00:00Z"),
            sale("ok2", invoice="X-2"),
        ],
    )
    assert report.accepted == 2
    errors = {r["index"]: r["error"] for r in report.rejected}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert "units must be a whole number" in errors[1]
    assert "partner 'NOPE' is not enrolled" in errors[2]
    assert "SKU 'XX' is not in the product catalog" in errors[3]
    assert "time zone" in errors[4]
    assert "units must be at least 0" in errors[5]
    assert "units must be at most 100,000" in errors[6]
    assert "does not belong to partner" in errors[7]
    assert "partner is required" in errors[8]
    assert "in the future" in errors[9]
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == 2


def test_a_reversal_cancels_an_entry_and_balance_is_the_sum(sqlite_db: Database) -> None:
    from app.ledger import balance_of, reverse_entry

    make_world(sqlite_db)
    report = _ingest(sqlite_db, [sale("e1", units=2), sale("e2", units=5, invoice="B")])
    with sqlite_db.write() as s:
        reverse_entry(s, sqlite_db, report.entry_ids[0], memo="sold to a staff member", now=NOW)
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 50
    with sqlite_db.write() as s:
        import pytest

        with pytest.raises(ValueError, match="already reversed"):
            reverse_entry(s, sqlite_db, report.entry_ids[0], memo="again", now=NOW)
