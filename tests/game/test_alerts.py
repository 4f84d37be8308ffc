"""Personal alerts, read as sentences."""

from __future__ import annotations

from game.alerts import Alert, Kind, Place, decide, overtakes, throttle, toast_text
from game.tiers import Tier, TierLadder, TierMetric

LADDER = TierLadder(TierMetric.UNITS, (Tier("Bronze", 100), Tier("Gold", 500)))


def place(pid: int, value: int, rank: int, seq: int = 1) -> Place:
    return Place(pid, value, seq, rank)


def test_a_rep_who_gets_ahead_of_another_has_overtaken_them() -> None:
    budi_before, budi_after = place(1, 10, 3), place(1, 50, 1)
    siti = place(2, 40, 2)
    assert overtakes({1: budi_before}, {1: budi_after}, [siti]) == [(1, 2)]


def test_moving_closer_without_getting_ahead_overtakes_nobody() -> None:
    assert overtakes({1: place(1, 10, 2)}, {1: place(1, 30, 2)}, [place(2, 40, 1)]) == []


def test_a_tie_is_won_by_whoever_reached_the_value_first() -> None:
    later = place(1, 40, 1, seq=9)
    assert overtakes({1: place(1, 10, 2)}, {1: later}, [place(2, 40, 1, seq=5)]) == []


def test_the_overtaken_rep_is_told_who_passed_them_and_their_new_rank() -> None:
    alerts = decide({1: place(1, 10, 2)}, {1: place(1, 50, 1)}, [place(2, 40, 2)])
    assert Alert(2, Kind.PASSED_YOU, 2, by=1) in alerts
    assert Alert(1, Kind.MOVED_UP, 1) in alerts


def test_a_first_sale_far_down_the_board_tells_nobody() -> None:
    assert decide({7: None}, {7: place(7, 1, 40)}, []) == []


def test_a_first_sale_that_enters_the_top_ten_is_news() -> None:
    assert decide({7: None}, {7: place(7, 90, 4)}, []) == [Alert(7, Kind.MOVED_UP, 4)]


def test_reaching_a_tier_beats_moving_up_and_names_the_highest_tier_crossed() -> None:
    alerts = decide(
        {1: place(1, 10, 2)}, {1: place(1, 600, 1)}, [], LADDER, tier_values={1: (50, 600)}
    )
    assert alerts == [Alert(1, Kind.TIER, 1, tier="Gold")]


def test_a_participant_told_recently_is_not_told_again_within_the_minute() -> None:
    alert = Alert(1, Kind.MOVED_UP, 3)
    assert throttle([alert], {1: 100.0}, now=130.0, min_seconds=60) == []
    assert throttle([alert], {1: 100.0}, now=160.0, min_seconds=60) == [alert]
    assert throttle([alert], {}, now=0.0, min_seconds=60) == [alert]


def test_an_anonymous_overtaker_is_someone() -> None:
    alert = Alert(2, Kind.PASSED_YOU, 4, by=1)
    assert toast_text(alert, {1: ("Budi", "Toko Maju")}) == (
        "Budi from Toko Maju passed you: you are now #4"
    )
    assert toast_text(alert, {1: (None, "Toko Maju")}) == "Someone passed you: you are now #4"
    assert toast_text(Alert(1, Kind.TIER, 1, tier="Gold"), {}) == "You reached Gold"
