from decimal import Decimal
from fractions import Fraction

import pytest
from billing_kit import SHANGHAI, amend, at, capacity, card_hours, machines, payload, sign, terminate, tokens

from billing.core.contracts import ItemChanges
from billing.core.periods import Period
from billing.core.terms import (
    amendment_penalty_lines,
    closed_end,
    ensure_period_open,
    fees_end,
    remaining_closed_value,
    rmv,
    term_end,
    termination_lines,
    termination_quote,
    validate_amendment,
)
from kashi.errors import ContractClosed, PeriodAlreadyClosed, ValidationFailed


def _open_term_contract():
    """12 months closed + 12 open from 2026-01-01, ten 8×RTX-4090 machines at 7,200: RMV 72,000."""
    return sign(payload(machines(10, "7200.00"), closed_months=12, open_months=12))


def test_penalty_for_sixty_machines_after_one_year():
    state = sign(payload())  # SPEC §6: 60 × 5,000, start 2026-01-01 Shanghai, 36 closed, rate 0.20
    lines = termination_lines(state, at("2027-01-01"), None, SHANGHAI)
    assert remaining_closed_value(state, at("2027-01-01"), SHANGHAI) == 7_200_000
    assert [(line.kind, line.amount, line.tax) for line in lines] == [
        ("penalty", Decimal("1440000.00"), Decimal("86400.00"))
    ]
    assert lines[0].item_id is None
    assert (lines[0].period_start, lines[0].period_end) == (at("2027-01-01"), at("2029-01-01"))
    assert lines[0].quantity == Decimal("7200000.00") and lines[0].unit_price == Decimal("0.20")


def test_quote_for_sixty_machines_after_one_year_gives_the_same_figures():
    quote = termination_quote(sign(payload()), at("2027-01-01"), None, SHANGHAI)
    assert quote.in_closed_term
    assert quote.remaining_closed_value == Decimal("7200000.00")
    assert (quote.amount, quote.tax, quote.total) == (Decimal("1440000.00"), Decimal("86400.00"), Decimal("1526400.00"))
    assert quote.lines == tuple(termination_lines(sign(payload()), at("2027-01-01"), None, SHANGHAI))


def test_closed_and_term_end_count_calendar_months_in_the_tenant_timezone():
    terms = sign(payload(start="2026-09-15T00:00:00+08:00", closed_months=36, open_months=24)).terms
    assert closed_end(terms, SHANGHAI) == at("2029-09-15")
    assert term_end(terms, SHANGHAI) == at("2031-09-15")


def test_a_contract_starting_on_the_31st_clamps_and_counts_the_open_term_from_closed_end():
    # SPEC §4: term_end = closed_end + open_months, each step clamped to the month's last day.
    terms = sign(payload(start="2026-01-31T00:00:00+08:00", closed_months=1, open_months=1)).terms
    assert closed_end(terms, SHANGHAI) == at("2026-02-28")
    assert term_end(terms, SHANGHAI) == at("2026-03-28")


def test_rmv_of_the_spec_contract():
    state = sign(payload(machines(), capacity(), card_hours(), tokens()))
    # 60 × 5,000 + 100 P × 120,000 / 12 + 1,000 card-hours × 12.50; tokens add nothing.
    assert rmv(state, at("2026-06-01")) == 300_000 + 1_000_000 + 12_500


def test_penalty_mid_month_prorates_the_first_remaining_month():
    state = sign(payload())
    lines = termination_lines(state, at("2028-12-16"), None, SHANGHAI)
    # 16 of December's 31 days remain: 300,000 × 16/31 × 0.20 = 30,967.741935…
    assert remaining_closed_value(state, at("2028-12-16"), SHANGHAI) == Fraction(300_000 * 16, 31)
    assert [(line.amount, line.tax) for line in lines] == [(Decimal("30967.74"), Decimal("1858.06"))]


def test_fixed_months_penalty_charges_months_of_rmv():
    state = sign(payload(penalty={"basis": "fixed_months", "months": 3}))
    lines = termination_lines(state, at("2027-01-01"), None, SHANGHAI)
    assert [(line.kind, line.amount, line.quantity, line.unit) for line in lines] == [
        ("penalty", Decimal("900000.00"), Decimal(3), "RMV-month")
    ]


def test_no_penalty_clause_means_no_penalty_line():
    state = sign(payload(penalty=None))
    assert termination_lines(state, at("2027-01-01"), None, SHANGHAI) == []


def test_open_term_termination_charges_notice_running_past_month_end():
    state = _open_term_contract()
    lines = termination_lines(state, at("2027-03-20"), at("2027-03-10"), SHANGHAI)
    # Notice ends 2027-04-09: 12 of March's 31 days and 8 of April's 30 at 72,000 a month.
    assert [(line.kind, line.amount, line.tax) for line in lines] == [
        ("notice_in_lieu", Decimal("47070.97"), Decimal("2824.26"))
    ]
    assert (lines[0].period_start, lines[0].period_end) == (at("2027-03-20"), at("2027-04-09"))
    assert lines[0].quantity == Decimal("0.653763")  # 12/31 + 8/30 months


def test_open_term_termination_after_enough_notice_costs_nothing():
    state = _open_term_contract()
    assert termination_lines(state, at("2027-03-20"), at("2027-02-01"), SHANGHAI) == []
    assert termination_quote(state, at("2027-03-20"), at("2027-02-01"), SHANGHAI).total == Decimal("0.00")


def test_notice_in_lieu_stops_at_term_end():
    state = _open_term_contract()
    lines = termination_lines(state, at("2027-12-20"), None, SHANGHAI)
    assert [(line.amount, line.period_end) for line in lines] == [(Decimal("27870.97"), at("2028-01-01"))]


def test_termination_must_fall_inside_the_term():
    state = _open_term_contract()
    with pytest.raises(ValidationFailed, match="before the contract's start"):
        termination_lines(state, at("2025-12-31"), None, SHANGHAI)
    with pytest.raises(ContractClosed):
        termination_lines(state, at("2028-01-01"), None, SHANGHAI)
    with pytest.raises(ContractClosed, match="already terminated"):
        termination_lines(terminate(state, at("2027-03-01")), at("2027-04-01"), None, SHANGHAI)


def test_termination_ends_fees_at_its_effective_instant():
    state = terminate(_open_term_contract(), at("2027-03-20"))
    assert fees_end(state, SHANGHAI) == at("2027-03-20")


def test_partial_termination_by_amendment_charges_the_penalty_on_the_part_removed():
    state = sign(payload())
    lines = amendment_penalty_lines(state, "i-1", ItemChanges(machines=40), at("2027-01-01"), SHANGHAI)
    # 20 machines × 5,000 × 24 remaining months = 2,400,000 removed; 20% of it.
    assert [(line.kind, line.item_id, line.amount, line.tax) for line in lines] == [
        ("penalty", "i-1", Decimal("480000.00"), Decimal("28800.00"))
    ]


def test_partial_termination_mid_month_prorates_the_removed_value():
    lines = amendment_penalty_lines(sign(payload()), "i-1", ItemChanges(machines=50), at("2027-01-16"), SHANGHAI)
    # 10 machines × 5,000 × (16/31 + 23 months) × 0.20 = 235,161.290322…
    assert [line.amount for line in lines] == [Decimal("235161.29")]


def test_partial_termination_with_fixed_months_charges_months_of_the_removed_value():
    state = sign(payload(penalty={"basis": "fixed_months", "months": 3}))
    lines = amendment_penalty_lines(state, "i-1", ItemChanges(machines=40), at("2027-01-01"), SHANGHAI)
    assert [line.amount for line in lines] == [Decimal("300000.00")]


def test_increases_and_open_term_reductions_carry_no_penalty():
    assert amendment_penalty_lines(sign(payload()), "i-1", ItemChanges(machines=80), at("2027-01-01"), SHANGHAI) == []
    state = _open_term_contract()
    assert amendment_penalty_lines(state, "i-1", ItemChanges(machines=5), at("2027-02-01"), SHANGHAI) == []


def test_amendment_validation():
    state = sign(payload(machines(), card_hours()))
    validate_amendment(state, "i-3", ItemChanges(committed_card_hours=Decimal(0)), at("2026-02-01"), SHANGHAI)
    with pytest.raises(ValidationFailed, match="no item"):
        validate_amendment(state, "i-9", ItemChanges(machines=1), at("2026-02-01"), SHANGHAI)
    with pytest.raises(ValidationFailed, match="before the contract's start"):
        validate_amendment(state, "i-1", ItemChanges(machines=1), at("2025-02-01"), SHANGHAI)
    with pytest.raises(ContractClosed):
        validate_amendment(state, "i-1", ItemChanges(machines=1), at("2029-01-01"), SHANGHAI)
    later = amend(state, "i-1", at("2026-06-01"), machines=50)
    with pytest.raises(ValidationFailed, match="last change"):
        validate_amendment(later, "i-1", ItemChanges(machines=1), at("2026-05-01"), SHANGHAI)


def test_a_change_may_not_take_effect_in_a_closed_period():
    ensure_period_open(at("2026-11-01"), SHANGHAI, [Period(2026, 9), Period(2026, 10)])
    with pytest.raises(PeriodAlreadyClosed) as caught:
        ensure_period_open(at("2026-10-31T23:00"), SHANGHAI, [Period(2026, 9), Period(2026, 10)])
    assert caught.value.code == "period_closed"
    with pytest.raises(PeriodAlreadyClosed):
        ensure_period_open(at("2026-08-15"), SHANGHAI, [Period(2026, 10)])
