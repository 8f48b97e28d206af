"""SLA availability and credits (SPEC §15): tiers at their edges, validation, and the credit line."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.core.contract_json import item_from_json, item_to_json
from billing.core.periods import Period
from billing.core.pricing import charges_for_period
from billing.core.sla import Sla, availability, capacity_card_seconds, parse_sla, sla_credit_lines
from kashi.errors import ValidationFailed
from tests.unit.billing.billing_kit import SHANGHAI, amend, at, machines, payload, sign

SLA = {"availability": "0.99", "credits": [{"below": "0.99", "rate": "0.10"}, {"below": "0.95", "rate": "0.25"}]}
OCTOBER = Period(2026, 10)
CAPACITY = 8 * 31 * 86400  # one 8-card machine for the 31 days of October: 21,427,200 card-seconds


def _sla() -> Sla:
    sla, problems = parse_sla(SLA, "sla")
    assert problems == []
    return sla


@pytest.mark.parametrize(
    ("measured", "rate"),
    [
        ("1", None),
        ("0.99", None),
        ("0.9899999", "0.10"),
        ("0.95", "0.10"),
        ("0.9499999", "0.25"),
        ("0", "0.25"),
    ],
)
def test_the_lowest_threshold_crossed_gives_the_rate_and_a_threshold_itself_is_not_below(measured, rate):
    tier = _sla().tier(Decimal(measured))
    assert (tier and tier.rate) == (None if rate is None else Decimal(rate))


ASCENDING = [{"below": "0.95", "rate": "0.25"}, {"below": "0.99", "rate": "0.10"}]
REPEATED = [{"below": "0.99", "rate": "0.10"}, {"below": "0.99", "rate": "0.25"}]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**SLA, "credits": ASCENDING}, "sla.credits[1].below"),
        ({**SLA, "credits": REPEATED}, "sla.credits[1].below"),
        ({**SLA, "credits": [{"below": "0.99", "rate": "0"}]}, "sla.credits[0].rate"),
        ({**SLA, "credits": [{"below": "0.99", "rate": "1.01"}]}, "sla.credits[0].rate"),
        ({**SLA, "credits": [{"below": "0.99", "rate": 0.1}]}, "sla.credits[0].rate"),
        ({**SLA, "credits": [{"below": "0.99"}]}, "sla.credits[0].rate"),
        ({**SLA, "availability": "1.5"}, "sla.availability"),
        ({**SLA, "penalty": "x"}, "sla.penalty"),
    ],
)
def test_bad_sla_names_the_field(raw, field):
    sla, problems = parse_sla(raw, "sla")
    assert sla is None and field in [p["field"] for p in problems]


def test_a_rate_of_one_credits_everything_and_is_allowed():
    sla, problems = parse_sla({"availability": "0.9", "credits": [{"below": "0.5", "rate": "1"}]}, "sla")
    assert problems == [] and sla.tier(Fraction(1, 3)).rate == Decimal(1)


def test_contract_payload_rejects_a_bad_sla_and_keeps_a_good_one_through_json():
    with pytest.raises(ValidationFailed) as caught:
        sign(payload(machines(1, sla={**SLA, "credits": [{"below": "0.9", "rate": "2"}]})))
    assert [d["field"] for d in caught.value.details] == ["items[0].sla.credits[0].rate"]
    state = sign(payload(machines(1, sla=SLA)))
    item = state.terms.items[0]
    assert item.sla == _sla() and item_from_json(item_to_json(item)) == item
    assert item_to_json(item)["sla"] == SLA


def _credits(state, lit):
    lines = charges_for_period(state, OCTOBER, SHANGHAI)
    return [
        (line.kind, line.amount, line.tax)
        for line in sla_credit_lines([state], OCTOBER, SHANGHAI, {("c-1", "i-1"): lit}, lines)
    ]


@pytest.mark.parametrize(
    ("lit", "credit", "tax"),
    [
        (CAPACITY, None, None),
        (CAPACITY * 99 // 100, None, None),  # exactly 99 %: not below the first threshold
        (CAPACITY * 99 // 100 - 1, "-500.00", "-30.00"),
        (CAPACITY * 95 // 100, "-500.00", "-30.00"),  # exactly 95 %
        (CAPACITY * 95 // 100 - 1, "-1250.00", "-75.00"),
        (0, "-1250.00", "-75.00"),
    ],
)
def test_credit_of_one_machine_at_5000_for_october_at_the_tier_edges(lit, credit, tax):
    state = sign(payload(machines(1, sla=SLA)))
    expected = [] if credit is None else [("sla_credit", Decimal(credit), Decimal(tax))]
    assert _credits(state, lit) == expected


def test_capacity_follows_amendments_inside_the_period():
    state = amend(sign(payload(machines(2, sla=SLA))), "i-1", at("2026-10-16"), machines=1)
    assert capacity_card_seconds(state, "i-1", OCTOBER, SHANGHAI) == 16 * 15 * 86400 + 8 * 16 * 86400


def test_p_year_capacity_is_p_over_the_model_tflops_in_cards():
    item = {
        "id": "i-1",
        "pricing": "p_year",
        "capacity_p": "3.12",
        "gpu_model": "A100",
        "unit_price": "120000.00",
        "sla": SLA,
    }
    state = sign(payload(item))
    assert capacity_card_seconds(state, "i-1", OCTOBER, SHANGHAI) == 10 * 31 * 86400  # 3.12 P ÷ 312 TFLOPS
    lines = charges_for_period(state, OCTOBER, SHANGHAI)
    assert [line.amount for line in lines] == [Decimal("31200.00")]
    credit = sla_credit_lines([state], OCTOBER, SHANGHAI, {("c-1", "i-1"): 5 * 31 * 86400}, lines)
    assert [(c.kind, c.amount) for c in credit] == [("sla_credit", Decimal("-7800.00"))]


def test_p_year_sla_needs_a_model():
    with pytest.raises(ValidationFailed) as caught:
        sign(payload({"id": "i-1", "pricing": "p_year", "capacity_p": "3", "unit_price": "1.00", "sla": SLA}))
    assert [d["field"] for d in caught.value.details] == ["items[0].sla"]


@given(st.integers(min_value=0, max_value=2 * CAPACITY))
def test_availability_is_between_0_and_1_and_credits_are_never_positive(lit):
    measured = availability(lit, Fraction(CAPACITY))
    assert 0 <= measured <= 1
    assert all(amount <= 0 for _, amount, _ in _credits(sign(payload(machines(1, sla=SLA))), lit))
