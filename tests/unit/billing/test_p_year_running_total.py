"""`p_year` running-total rounding over the contract year (SPEC §5): properties over random capacity,
prices, start days, zones and amendments, and the worked example."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from billing_kit import BERLIN, NEW_YORK, SHANGHAI, amend, capacity, payload, sign
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.money import round_money
from billing.core.p_year import exact_charges, year_start
from billing.core.periods import add_months, period_of
from billing.core.pricing import charges_for_period

ZONES = st.sampled_from([SHANGHAI, NEW_YORK, BERLIN])
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
CAPACITIES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3)
CENT = Decimal("0.01")


def _year_lines(state, tz, first, after):
    """Every p_year line charging inside the contract year [first, after)."""
    period, lines = period_of(first, tz), []
    while period.start(tz) < after:
        lines += [
            line
            for line in charges_for_period(state, period, tz)
            if line.kind == "p_year" and first <= line.period_start < after
        ]
        period = period.next()
    return lines


@settings(max_examples=60, deadline=None)
@given(
    tz=ZONES,
    month=st.integers(1, 12),
    day=st.sampled_from([1, 1, 2, 15, 28, 29, 31]),
    hour=st.sampled_from([0, 0, 9, 23]),
    capacity_p=CAPACITIES,
    unit_price=PRICES,
    year=st.integers(0, 1),
    amendments=st.lists(st.tuples(st.integers(1, 364 * 86_400), CAPACITIES), max_size=3),
)
def test_a_contract_year_sums_to_its_exact_charges_rounded_once_and_each_line_is_within_a_cent(
    tz, month, day, hour, capacity_p, unit_price, year, amendments
):
    day = min(day, calendar.monthrange(2026, month)[1])
    start = datetime(2026, month, day, hour, tzinfo=tz).isoformat()
    state = sign(payload(capacity(str(capacity_p), str(unit_price)), start=start, closed_months=36), tz)
    first = add_months(state.terms.start, 12 * year, tz)
    for offset, new_capacity in sorted(amendments):
        state = amend(state, "i-2", first + timedelta(seconds=offset), capacity_p=str(new_capacity))
    after = add_months(first, 12, tz)
    lines = _year_lines(state, tz, first, after)
    assert len(lines) >= 12
    exact_year = exact_charges(state, "i-2", first, after, tz)
    assert sum((line.amount for line in lines), Decimal("0.00")) == round_money(exact_year)
    for line in lines:
        exact = exact_charges(state, "i-2", line.period_start, line.period_end, tz)
        assert abs(Fraction(line.amount) - exact) < Fraction(CENT)
    if not amendments and day == 1 and hour == 0:
        # Twelve whole months: exactly the annual price. (A year starting mid-month splits one month of
        # each year's end between two years whose months can differ in length — a leap February, a DST
        # change on another date — so it sums to its own exact charges rounded once, asserted above.)
        assert sum(line.amount for line in lines) == round_money(capacity_p * unit_price)


def test_the_contract_year_runs_from_the_contract_start_in_calendar_months():
    state = sign(payload(capacity(), start="2026-01-31T00:00:00+08:00"))
    assert year_start(state.terms.start, add_months(state.terms.start, 13, SHANGHAI), SHANGHAI) == add_months(
        state.terms.start, 12, SHANGHAI
    )


def test_twelve_closes_of_5_92_p_at_a_million_sum_to_5_920_000_00():
    state = sign(payload(capacity("5.92", "1000000.00"), start="2026-03-10T00:00:00+08:00"))
    first = state.terms.start
    lines = _year_lines(state, SHANGHAI, first, add_months(first, 12, SHANGHAI))
    assert sum(line.amount for line in lines) == Decimal("5920000.00")
