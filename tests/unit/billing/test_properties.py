"""Properties of the billing core that must hold for every contract, not just the worked examples."""

from datetime import timedelta
from decimal import Decimal

import pytest
from billing_kit import BERLIN, NEW_YORK, SHANGHAI, amend, at, capacity, machines, payload, sign, terminate
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.contracts import ContractAmended, ContractSigned, ItemChanges, fold
from billing.core.money import round_money
from billing.core.periods import Period
from billing.core.pricing import charges_for_period
from billing.core.terms import term_end, termination_lines, termination_quote
from kashi.errors import VersionConflict

ZONES = st.sampled_from([SHANGHAI, NEW_YORK, BERLIN])
MONTHS = st.builds(Period, st.integers(2025, 2029), st.integers(1, 12))
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
CAPACITIES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3)
OFFSETS = st.integers(min_value=1, max_value=27 * 86_400)


@settings(max_examples=40, deadline=None)
@given(first=MONTHS, tz=ZONES, capacity_p=CAPACITIES, unit_price=PRICES)
def test_twelve_full_months_of_p_year_make_exactly_the_annual_price(first, tz, capacity_p, unit_price):
    start = first.start(tz).isoformat()
    state = sign(payload(capacity(str(capacity_p), str(unit_price)), start=start, closed_months=12), tz)
    months = [charges_for_period(state, first.shift(n), tz) for n in range(12)]
    # Twelve full months are twelve P-months per P: exactly the annual price before rounding …
    assert sum(line.quantity for lines in months for line in lines) == 12 * capacity_p
    # … and, rounded as a running total over the contract year, the annual price to the cent, each month
    # less than a cent from its exact twelfth.
    assert all(abs(lines[0].amount - capacity_p * unit_price / 12) < Decimal("0.01") for lines in months)
    total = sum(line.amount for lines in months for line in lines)
    assert total == round_money(capacity_p * unit_price)


@settings(max_examples=40, deadline=None)
@given(month=MONTHS, tz=ZONES, count=st.integers(1, 500), unit_price=PRICES, cuts=st.lists(OFFSETS, max_size=4))
def test_splitting_an_active_interval_moves_a_total_by_at_most_its_rounding(month, tz, count, unit_price, cuts):
    whole = sign(payload(machines(count, str(unit_price)), capacity(), start=month.start(tz).isoformat()), tz)
    split = whole
    for offset in sorted(set(cuts)):
        # An amendment that changes nothing still cuts the month into separately rounded lines.
        split = amend(split, "i-1", month.start(tz) + timedelta(seconds=offset), machines=count)
        split = amend(split, "i-2", month.start(tz) + timedelta(seconds=offset), capacity_p="100")
    before = charges_for_period(whole, month, tz)
    after = charges_for_period(split, month, tz)
    difference = abs(sum(line.amount for line in after) - sum(line.amount for line in before))
    assert len(after) == len(before) + 2 * len(set(cuts))
    assert difference <= Decimal("0.01") * len(after)
    p_year = [line.amount for line in after if line.kind == "p_year"]
    assert abs(sum(p_year) - Decimal("1000000.00")) <= Decimal("0.005") * len(p_year)


@settings(max_examples=40, deadline=None)
@given(
    closed=st.integers(0, 36),
    opened=st.integers(0, 24),
    days_in=st.integers(0, 60 * 31),
    notice_days=st.integers(0, 90),
    notice_before=st.integers(0, 120),
    basis=st.sampled_from(["remaining_closed_value", "fixed_months"]),
)
def test_a_termination_quote_is_exactly_the_termination_lines(
    closed, opened, days_in, notice_days, notice_before, basis
):
    penalty = {"basis": basis, "rate": "0.20"} if basis == "remaining_closed_value" else {"basis": basis, "months": 2}
    document = payload(
        closed_months=closed, open_months=max(opened, 1 - closed), notice_days=notice_days, penalty=penalty
    )
    state = sign(document)
    effective_at = at("2026-01-01") + timedelta(days=days_in)
    if effective_at >= term_end(state.terms, SHANGHAI):
        return
    notice_given_at = effective_at - timedelta(days=notice_before)
    lines = termination_lines(state, effective_at, notice_given_at, SHANGHAI)
    quote = termination_quote(state, effective_at, notice_given_at, SHANGHAI)
    assert quote.lines == tuple(lines)
    assert quote.amount == sum((line.amount for line in lines), Decimal("0.00"))
    assert quote.total == quote.amount + quote.tax
    assert all(line.kind == ("penalty" if quote.in_closed_term else "notice_in_lieu") for line in lines)
    terminated = terminate(state, effective_at, notice_given_at)
    assert charges_for_period(terminated, Period(2031, 1), SHANGHAI) == []


def _stream(changes: list[int]):
    state = sign(payload())
    events = [ContractSigned(terms=state.terms, recorded_at=at("2025-12-01"), actor="op")]
    for version, machine_count in enumerate(changes, start=2):
        events.append(
            ContractAmended(
                contract_id="c-1",
                item_id="i-1",
                changes=ItemChanges(machines=machine_count),
                effective_at=at("2026-01-01") + timedelta(days=version),
                version=version,
                recorded_at=at("2026-01-01"),
                actor="op",
            )
        )
    return events


@settings(max_examples=40, deadline=None)
@given(changes=st.lists(st.integers(0, 100), min_size=1, max_size=6), data=st.data())
def test_folding_is_deterministic_and_accepts_only_versions_in_order(changes, data):
    events = _stream(changes)
    assert fold(events) == fold(_stream(changes))
    assert fold(events).item_at("i-1", at("2027-01-01")).machines == changes[-1]
    shuffled = data.draw(st.permutations(events))
    if shuffled != events:
        with pytest.raises(VersionConflict):
            fold(shuffled)
    dropped = data.draw(st.integers(1, len(events) - 1))
    if dropped < len(events) - 1:
        with pytest.raises(VersionConflict):
            fold(events[:dropped] + events[dropped + 1 :])
