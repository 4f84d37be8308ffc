from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game.events import Activity, EventType, invoice_line_key, normalise_invoice
from game.ledger import Entry, EntryKind, balance, can_redeem, reversal_of
from game.scoring import ScoringRules, score
from game.tiers import Tier, TierLadder, TierMetric, tier_progress

T = datetime(2026, 11, 22, tzinfo=UTC)
RULES = ScoringRules(
    points_per_unit=Decimal(5),
    amount_step=Decimal(1_000_000),
    points_per_amount_step=Decimal(2),
    sku_multipliers={"TV-NEW": Decimal(2)},
    activity_points={EventType.TRAINING: 50},
)


def sale(units: int, amount: int = 0, sku: str = "TV-55") -> Activity:
    return Activity(EventType.SALE, T, sku, units, Decimal(amount))


def test_points_per_unit_and_per_full_amount_step_are_added():
    assert score(sale(3, 2_500_000), RULES).points == 3 * 5 + 2 * 2


def test_a_launch_sku_multiplies_the_sale():
    assert score(sale(3, sku="tv-new"), RULES).points == 30


def test_activities_earn_flat_points_and_unknown_activities_earn_nothing():
    assert score(Activity(EventType.TRAINING, T), RULES).points == 50
    assert score(Activity(EventType.OUTLET_OPENED, T), RULES).points == 0


def test_caps_cut_points_and_say_by_how_much():
    capped = ScoringRules(points_per_unit=Decimal(10), cap_per_event=100, cap_per_period=150)
    first = score(sale(20), capped, earned_this_period=0)
    assert (first.points, first.uncapped, first.capped) == (100, 200, True)
    assert score(sale(20), capped, earned_this_period=100).points == 50
    assert score(sale(20), capped, earned_this_period=150).points == 0


rules_strategy = st.builds(
    ScoringRules,
    points_per_unit=st.decimals(0, 100, places=2),
    amount_step=st.sampled_from([Decimal(0), Decimal(100_000), Decimal(1_000_000)]),
    points_per_amount_step=st.decimals(0, 10, places=1),
    cap_per_event=st.none() | st.integers(0, 10_000),
    cap_per_period=st.none() | st.integers(0, 100_000),
)


@given(
    rules=rules_strategy,
    units=st.integers(1, 100_000),
    amount=st.integers(0, 10**12),
    earned=st.integers(0, 200_000),
)
def test_points_are_never_negative_and_never_exceed_a_cap(rules, units, amount, earned):
    result = score(sale(units, amount), rules, earned)
    assert result.points >= 0
    assert result.points <= result.uncapped
    if rules.cap_per_event is not None:
        assert result.points <= rules.cap_per_event
    if rules.cap_per_period is not None:
        assert earned + result.points <= max(rules.cap_per_period, earned)


@given(rules=rules_strategy, units=st.lists(st.integers(1, 1000), min_size=1, max_size=30))
def test_a_period_never_earns_more_than_its_cap(rules, units):
    earned = 0
    for u in units:
        earned += score(sale(u), rules, earned).points
    if rules.cap_per_period is not None:
        assert earned <= rules.cap_per_period


@given(rules=rules_strategy, units=st.integers(1, 10_000), extra=st.integers(0, 10_000))
def test_selling_more_never_earns_fewer_points(rules, units, extra):
    assert score(sale(units + extra), rules).points >= score(sale(units), rules).points


@given(rules=rules_strategy)
def test_rules_survive_a_round_trip_through_stored_data(rules):
    assert ScoringRules.from_data(rules.to_data()) == rules


def test_negative_rates_are_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        ScoringRules(points_per_unit=Decimal(-1))


@pytest.mark.parametrize("written", ["INV-0042", "inv 42", " Inv/00042 ", "INV_42", "inv.0042"])
def test_invoice_numbers_written_differently_normalise_to_one(written):
    assert normalise_invoice(written) == "inv42"


def test_an_invoice_line_is_the_invoice_and_the_sku():
    assert invoice_line_key("INV-01", "tv-55") == invoice_line_key("inv 1", "TV-55")
    assert invoice_line_key("INV-01", "TV-55") != invoice_line_key("INV-01", "AC-1PK")
    assert normalise_invoice("INV-100") != normalise_invoice("INV-10")


LADDER = TierLadder(
    TierMetric.UNITS, (Tier("Bronze", 100, 50), Tier("Silver", 250), Tier("Gold", 500))
)


@pytest.mark.parametrize(
    ("units", "current", "next_", "missing"),
    [
        (0, None, "Bronze", 100),
        (99, None, "Bronze", 1),
        (100, "Bronze", "Silver", 150),
        (488, "Silver", "Gold", 12),
        (500, "Gold", None, 0),
    ],
)
def test_tier_progress_says_what_is_missing_for_the_next_tier(units, current, next_, missing):
    p = tier_progress(units, LADDER)
    assert (p.current and p.current.name, p.next and p.next.name, p.missing) == (
        current,
        next_,
        missing,
    )


def test_tier_thresholds_must_increase():
    with pytest.raises(ValueError, match="strictly increasing"):
        TierLadder(TierMetric.UNITS, (Tier("Silver", 250), Tier("Bronze", 100)))


@given(st.lists(st.integers(-1000, 1000), max_size=50))
def test_balance_is_the_sum_and_a_reversal_brings_an_entry_to_zero(points):
    entries = [Entry(i + 1, EntryKind.EARN, p) for i, p in enumerate(points)]
    assert balance(entries) == sum(points)
    for e in entries:
        assert balance([e, reversal_of(e, set())]) == 0


def test_an_entry_is_reversed_once_and_a_reversal_is_never_reversed():
    earn = Entry(1, EntryKind.EARN, 40)
    undo = reversal_of(earn, set())
    with pytest.raises(ValueError, match="already reversed"):
        reversal_of(earn, {1})
    with pytest.raises(ValueError, match="itself a reversal"):
        reversal_of(Entry(2, undo.kind, undo.points, 1), set())


def test_redeeming_never_takes_the_balance_below_zero():
    assert can_redeem(100, 100) and not can_redeem(99, 100) and not can_redeem(100, 0)
