"""Challenges through the services, on SQLite and PostgreSQL: progress kept by ingestion at
the window's edges, on-time lifecycle, settling exactly once, ending early and cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from app.boards import Leaderboards
from app.challenges import (
    ChallengeBoards,
    ChallengeError,
    ChallengeForm,
    DefinitionInvalid,
    advance_challenges,
    cancel_challenge,
    create_challenge,
    end_challenge,
    join_challenge,
    progress_of,
    settle_challenge,
    standings,
)
from app.db import Database
from app.ingest import ingest_events
from app.ledger import balance_of, reverse_entry
from app.models import (
    AuditEntry,
    Challenge,
    ChallengeEntry,
    ChallengeNotice,
    ChallengeResult,
    LedgerEntry,
    OutboxMessage,
    PeriodTotal,
    Reminder,
    User,
)
from app.reminders import send_reminders
from tests.app.test_claims import _people, _program
from tests.factories import sale

# 19:00 in Jakarta: the challenges below start then and run for one hour.
T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)


def _form(**changes: object) -> ChallengeForm:
    values: dict[str, object] = {
        "name": "Malam TV",
        "kind": "race",
        "metric": "units",
        "regions": ("JKT",),
        "target": "3",
        "winners": "1",
        "starts": "2026-11-22T19:00",
        "ends": "2026-11-22T20:00",
        "reward_points": "500",
    }
    values.update(changes)
    return ChallengeForm(**values)  # type: ignore[arg-type]


def _launch(db: Database, user: User, **changes: object) -> Challenge:
    return create_challenge(db, _program(db), user, _form(**changes), T0, launch=True)


def _ingest(db: Database, *events: dict[str, object]) -> None:
    report = ingest_events(db, _program(db), "erp", list(events), now=LATER)
    assert not report.rejected, report.rejected


def _boards(db: Database) -> Leaderboards:
    boards = Leaderboards(db, view_max_age=0)
    boards.sources.append(ChallengeBoards(db))
    return boards


def _bonus_points(db: Database) -> list[tuple[int | None, int]]:
    with db.session() as s:
        rows = s.execute(
            sa.select(col(LedgerEntry.rep_id), col(LedgerEntry.points)).where(
                col(LedgerEntry.kind) == "bonus"
            )
        ).all()
    return sorted((r[0], r[1]) for r in rows)


def _values(db: Database, challenge_id: int) -> dict[int, int]:
    with db.session() as s:
        c = s.get(Challenge, challenge_id)
        assert c is not None
        return {p.participant_id: p.value for p in progress_of(s, c)}


def test_events_count_from_the_first_instant_of_the_window_to_just_before_its_end(
    any_db: Database,
) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["manager"], kind="top", target="", winners="3")
    assert challenge.status == "live"
    _ingest(
        any_db,
        sale("before", units=100, occurred_at="2026-11-22T18:59:59.999999+07:00"),
        sale("at-start", units=2, occurred_at="2026-11-22T19:00:00+07:00"),
        sale("last", units=3, rep="R00001", occurred_at="2026-11-22T19:59:59.999999+07:00"),
        sale("at-end", units=100, rep="R00001", occurred_at="2026-11-22T20:00:00+07:00"),
        sale("other-region", units=9, partner="PT001", rep="R00100"),
    )
    assert sorted(_values(any_db, challenge.id or 0).values()) == [2, 3]


def test_a_race_is_settled_once_and_pays_the_first_to_reach_the_target(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["manager"])
    _ingest(
        any_db,
        sale("a1", units=2, rep="R00000", occurred_at="2026-11-22T19:05:00+07:00"),
        sale("b1", units=5, rep="R00001", occurred_at="2026-11-22T19:10:00+07:00"),
        sale("a2", units=9, rep="R00000", occurred_at="2026-11-22T19:20:00+07:00"),
    )
    # Nothing is settled while it is live.
    assert advance_challenges(any_db, T0 + timedelta(minutes=30)).settled == []
    first = advance_challenges(any_db, LATER)
    assert first.ended == [challenge.id] and first.settled == [challenge.id]
    # Settling again, by the scheduler or by hand, pays nothing more.
    assert advance_challenges(any_db, LATER + timedelta(minutes=1)).settled == []
    assert settle_challenge(any_db, challenge.id or 0, LATER) is False
    winner = users["colleague"].rep_id  # R00001 reached 3 first, though R00000 sold more
    assert _bonus_points(any_db) == [(winner, 500)]
    with any_db.session() as s:
        results = {r.participant_id: (r.place, r.won) for r in s.exec(select(ChallengeResult))}
        assert results[winner] == (1, True)
        assert results[users["rep"].rep_id] == (2, False)
        # The bonus moved the running totals (boards) with the ledger.
        total = s.execute(
            sa.select(col(PeriodTotal.points)).where(
                col(PeriodTotal.period_key) == "all",
                col(PeriodTotal.kind) == "rep",
                col(PeriodTotal.participant_id) == winner,
            )
        ).scalar_one()
        assert total == 50 + 500
        notices = {(n.user_id, n.kind) for n in s.exec(select(ChallengeNotice))}
        assert (users["colleague"].id, "won") in notices and (users["rep"].id, "ended") in notices
        mail = s.exec(select(OutboxMessage)).all()
        assert {m.to for m in mail} >= {"rep@example.com", "rep2@example.com"}
        actions = [a.action for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]
        assert actions.count("challenge.settle") == 1


def test_ending_early_stops_counting_pays_and_records_the_reason(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["manager"], kind="target", winners="")
    _ingest(any_db, sale("a1", units=4, occurred_at="2026-11-22T19:05:00+07:00"))
    ended = end_challenge(
        any_db, challenge.id or 0, users["manager"], "Stock ran out", T0 + timedelta(minutes=10)
    )
    assert ended.status == "settled" and ended.end_reason == "Stock ran out"
    assert _bonus_points(any_db) == [(users["rep"].rep_id, 500)]
    with any_db.session() as s:
        audit = s.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "challenge.end_early")
        ).one()
        assert audit.details["reason"] == "Stock ran out"
    with pytest.raises(ChallengeError):
        end_challenge(any_db, challenge.id or 0, users["manager"], "again", LATER)


def test_a_cancelled_challenge_pays_nobody_and_needs_a_reason(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["manager"], kind="target", winners="")
    _ingest(any_db, sale("a1", units=4, occurred_at="2026-11-22T19:05:00+07:00"))
    with pytest.raises(ChallengeError, match="reason"):
        cancel_challenge(any_db, challenge.id or 0, users["manager"], "  ", T0)
    cancel_challenge(any_db, challenge.id or 0, users["manager"], "Wrong SKU list", T0)
    advance_challenges(any_db, LATER)
    assert _bonus_points(any_db) == []
    with any_db.session() as s:
        assert s.get(Challenge, challenge.id).status == "cancelled"  # type: ignore[union-attr]
        audit = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "challenge.cancel")).one()
        assert audit.details == {"reason": "Wrong SKU list"}


def test_a_reversed_sale_leaves_the_challenge_and_a_race_win_it_made(any_db: Database) -> None:
    """Sell, win the race, return the goods: the units come back out and the reach with them,
    so the next to reach the target wins; a settled challenge is not touched."""
    users = _people(any_db)
    race = _launch(any_db, users["manager"])  # race to 3 units, one winner, 500 points
    report = ingest_events(
        any_db,
        _program(any_db),
        "erp",
        [sale("a", units=3, occurred_at="2026-11-22T19:05:00+07:00")],
        now=LATER,
    )
    second = ingest_events(
        any_db,
        _program(any_db),
        "erp",
        [sale("b", units=4, rep="R00001", occurred_at="2026-11-22T19:10:00+07:00")],
        now=LATER,
    )
    with any_db.write() as s:
        reverse_entry(s, any_db, report.entry_ids[0], memo="goods returned", now=LATER)
    with any_db.session() as s:
        c = s.get(Challenge, race.id)
        assert c is not None
        rows = {p.participant_id: (p.value, p.reached_seq) for p in progress_of(s, c)}
    assert rows[users["rep"].rep_id or 0] == (0, None)
    assert rows[users["colleague"].rep_id or 0][0] == 4
    advance_challenges(any_db, LATER)
    assert _bonus_points(any_db) == [(users["colleague"].rep_id, 500)]

    # Settled: a reversal now changes the ledger, not the challenge's results.
    with any_db.write() as s:
        reverse_entry(s, any_db, second.entry_ids[0], memo="returned", now=LATER)
    with any_db.session() as s:
        kept = s.exec(
            select(ChallengeEntry).where(
                col(ChallengeEntry.challenge_id) == race.id,
                col(ChallengeEntry.participant_id) == users["colleague"].rep_id,
            )
        ).one()
    assert kept.value == 4


def test_opt_in_counts_only_those_who_joined_with_their_sales_from_the_start(
    any_db: Database,
) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["admin"], kind="top", winners="1", enrolment="opt_in")
    _ingest(
        any_db,
        sale("a1", units=4, occurred_at="2026-11-22T19:05:00+07:00"),
        sale("b1", units=6, rep="R00001", occurred_at="2026-11-22T19:06:00+07:00"),
    )
    join_challenge(any_db, challenge.id or 0, users["rep"], T0 + timedelta(minutes=30))
    join_challenge(any_db, challenge.id or 0, users["rep"], T0 + timedelta(minutes=31))  # no-op
    _ingest(any_db, sale("a2", units=1, occurred_at="2026-11-22T19:40:00+07:00"))
    assert _values(any_db, challenge.id or 0) == {users["rep"].rep_id: 5}


def test_partner_teams_by_average_per_member(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(
        any_db,
        users["admin"],
        kind="team",
        target="",
        winners="",
        regions=("JKT", "SBY"),
        team_by="partner",
        team_score="average",
    )
    _ingest(
        any_db,
        sale("a1", units=3, occurred_at="2026-11-22T19:05:00+07:00"),
        sale("b1", units=5, partner="PT001", rep="R00100", occurred_at="2026-11-22T19:06:00+07:00"),
    )
    with any_db.session() as s:
        board = standings(s, _boards(any_db), s.get(Challenge, challenge.id), None)  # type: ignore[arg-type]
    assert [(name, score) for _, name, score, _ in board.teams] == [
        ("Toko Maju 1", 2.5),
        ("Toko Maju 0", 1.5),
    ]
    advance_challenges(any_db, LATER)
    with any_db.session() as s:
        pt001_rep = s.execute(sa.text("SELECT id FROM rep WHERE code = 'R00100'")).scalar_one()
    assert _bonus_points(any_db) == [(pt001_rep, 500)]
    assert balance_of(any_db.session(), rep_code="R00100") == 50 + 500


def test_definition_mistakes_are_all_reported_in_plain_words(any_db: Database) -> None:
    users = _people(any_db)
    with pytest.raises(DefinitionInvalid) as bad:
        _launch(any_db, users["manager"], ends="2026-11-22T18:00", regions=(), target="")
    messages = {p.where: p.message for p in bad.value.problems}
    assert messages["ends"] == "The end must be after the start."
    assert "scope" in messages and "target" in messages
    with pytest.raises(DefinitionInvalid) as foreign:
        _launch(any_db, users["manager"], regions=("SBY",))
    assert [p.message for p in foreign.value.problems] == [
        "You can only launch challenges in the regions you manage."
    ]
    _launch(any_db, users["manager"])
    with pytest.raises(DefinitionInvalid) as twice:
        _launch(any_db, users["manager"], starts="2026-11-22T19:30", ends="2026-11-22T21:00")
    assert twice.value.problems[0].values == {"name": "Malam TV"}


def test_a_scheduled_challenge_starts_on_time(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(any_db, users["manager"], starts="2026-11-22T19:30")
    assert challenge.status == "scheduled"
    assert advance_challenges(any_db, T0 + timedelta(minutes=29)).started == []
    assert advance_challenges(any_db, T0 + timedelta(minutes=30)).started == [challenge.id]


def test_a_day_before_the_end_those_in_the_challenge_are_reminded_once(any_db: Database) -> None:
    """Those with progress in an automatic challenge, and those who joined an opt-in one even
    with nothing sold yet; nobody else, and nobody twice."""
    users = _people(any_db)
    auto = _launch(any_db, users["manager"], name="Auto", kind="top", target="", winners="1")
    opt_in = _launch(any_db, users["manager"], name="Opt", kind="top", target="", winners="1",
                     enrolment="opt_in", metric="revenue")  # fmt: skip
    _ingest(any_db, sale("a1", units=2, occurred_at="2026-11-22T19:05:00+07:00"))
    join_challenge(any_db, opt_in.id or 0, users["colleague"], T0 + timedelta(minutes=6))
    now = T0 + timedelta(minutes=10)
    assert send_reminders(any_db, _program(any_db), now) == 2
    assert send_reminders(any_db, _program(any_db), now) == 0
    with any_db.session() as s:
        sent = {(r.user_id, r.subject) for r in s.exec(select(Reminder))}
    assert sent == {
        (users["rep"].id, f"challenge-{auto.id}:24h"),
        (users["colleague"].id, f"challenge-{opt_in.id}:24h"),
    }
