"""Progress folded from the ledger: the same values and the same "which event reached the
target" whether events come in one batch or one at a time, and opt-in counting only joiners."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.challenges import fold_challenges, join_challenge, progress_of
from app.db import Database
from app.ingest import ingest_events
from app.models import Challenge
from tests.app.test_challenges import LATER, T0, _launch
from tests.app.test_claims import _people, _program
from tests.factories import sale


def _batch(db: Database, *events: dict[str, Any]) -> dict[str, int]:
    """Ingest ``events`` as one batch; the ledger entry id of each event, by event id."""
    report = ingest_events(db, _program(db), "erp", list(events), now=LATER)
    assert not report.rejected, report.rejected
    return {str(e["id"]): entry for e, entry in zip(events, report.entry_ids, strict=True)}


def _at(minute: int) -> str:
    return f"2026-11-22T19:{minute:02d}:00+07:00"


def _progress(db: Database, challenge_id: int) -> dict[int, tuple[int, int, int | None]]:
    """Each participant's (value, last entry, entry that reached the target), as pages see it
    (the process's fold) and as a fresh fold of the ledger says: the two must agree."""
    with db.session() as s:
        c = s.get(Challenge, challenge_id)
        assert c is not None
        held = {p.participant_id: (p.value, p.seq, p.reached_seq) for p in progress_of(s, c)}
        fresh = fold_challenges(s, c.program_id, [c]).progress(challenge_id)
    assert held == {p.participant_id: (p.value, p.seq, p.reached_seq) for p in fresh}
    return held


def test_the_event_that_reaches_the_target_is_found_inside_a_batch(any_db: Database) -> None:
    users = _people(any_db)
    race = _launch(any_db, users["manager"])  # units of JKT reps, target 3
    rep, colleague = users["rep"].rep_id, users["colleague"].rep_id
    assert rep is not None and colleague is not None
    first = _batch(any_db, sale("a1", units=1, occurred_at=_at(5)))
    # The rep starts this batch at 1 and reaches 3 with a3, not with the batch's last event;
    # the colleague starts from nothing and reaches it with b2.
    second = _batch(
        any_db,
        sale("a2", units=1, occurred_at=_at(10)),
        sale("b1", units=2, rep="R00001", occurred_at=_at(11)),
        sale("b2", units=2, rep="R00001", occurred_at=_at(12)),
        sale("a3", units=1, occurred_at=_at(15)),
        sale("a4", units=5, occurred_at=_at(20)),
    )
    # Already reached: a later batch moves the value, never the moment it was reached.
    third = _batch(
        any_db,
        sale("a5", units=1, occurred_at=_at(25)),
        sale("a6", units=1, occurred_at=_at(26)),
    )
    assert first["a1"] < second["a2"]
    assert _progress(any_db, race.id or 0) == {
        rep: (10, third["a6"], second["a3"]),
        colleague: (4, second["b2"], second["b2"]),
    }


def test_a_batch_that_does_not_reach_the_target_leaves_it_unreached(any_db: Database) -> None:
    users = _people(any_db)
    race = _launch(any_db, users["manager"], target="10")
    rep = users["rep"].rep_id
    assert rep is not None
    _batch(any_db, sale("a1", units=4, occurred_at=_at(5)))
    second = _batch(
        any_db,
        sale("a2", units=3, occurred_at=_at(10)),
        sale("a3", units=2, occurred_at=_at(11)),
    )
    assert _progress(any_db, race.id or 0) == {rep: (9, second["a3"], None)}
    third = _batch(
        any_db,
        sale("a4", units=1, occurred_at=_at(12)),
        sale("a5", units=1, occurred_at=_at(13)),
    )
    assert _progress(any_db, race.id or 0) == {rep: (11, third["a5"], third["a4"])}


def test_opt_in_batches_count_only_for_those_who_joined(any_db: Database) -> None:
    users = _people(any_db)
    challenge = _launch(
        any_db, users["admin"], kind="target", winners="", target="3", enrolment="opt_in"
    )
    rep = users["rep"].rep_id
    assert rep is not None
    joined = _batch(any_db, sale("a1", units=1, occurred_at=_at(5)))
    join_challenge(any_db, challenge.id or 0, users["rep"], T0 + timedelta(minutes=30))
    assert _progress(any_db, challenge.id or 0) == {rep: (1, joined["a1"], None)}
    later = _batch(
        any_db,
        sale("a2", units=1, occurred_at=_at(40)),
        sale("b1", units=7, rep="R00001", occurred_at=_at(41)),  # did not join
        sale("a3", units=1, occurred_at=_at(42)),
        sale("a4", units=1, occurred_at=_at(43)),
    )
    assert _progress(any_db, challenge.id or 0) == {rep: (4, later["a4"], later["a3"])}
