"""Breach risk rows computed by hand (SPEC §16), with exact Decimals; no servers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.core.catalog import DEFAULT_CATALOG
from billing.core.market import MarketRent, latest
from billing.core.risk import breach_risk, rate_to_json, sort_rows
from billing.core.terms import termination_quote
from tests.unit.billing.billing_kit import SHANGHAI, at, machines, payload, sign

AS_OF = at("2027-01-01")


def rent(price: str, unit: str = "machine_month", model: str = "RTX-4090", when: str = "2026-12-15") -> MarketRent:
    return MarketRent(
        gpu_model=model, unit=unit, price=Decimal(price), currency="CNY", observed_at=at(when), source="test"
    )


def row(state, *rents: MarketRent, as_of: datetime = AS_OF):
    return breach_risk(state, as_of, SHANGHAI, lambda model: latest(rents, model, "CNY", as_of), DEFAULT_CATALOG.tflops)


def test_market_twenty_percent_below_at_rate_twenty_saves_nothing():
    state = sign(payload())
    risk = row(state, rent("4000.00"))
    assert risk.remaining_closed_value == Decimal("7200000.00")
    assert risk.market_value == Decimal("5760000.00")
    assert rate_to_json(risk.drop) == "0.20"
    assert risk.penalty == Decimal("1440000.00")
    assert risk.saving_if_broken == Decimal("0.00")
    assert risk.at_risk is False
    assert rate_to_json(risk.break_even_rate) == "0.20"


def test_market_thirty_percent_below_saves_720000_and_is_at_risk():
    state = sign(payload())
    risk = row(state, rent("3500.00"))
    assert rate_to_json(risk.drop) == "0.30"
    assert risk.saving_if_broken == Decimal("720000.00")
    assert risk.at_risk is True
    assert rate_to_json(risk.break_even_rate) == "0.30"
    assert risk.to_json()["saving_if_broken"] == "720000.00"


def test_penalty_is_the_termination_quote():
    state = sign(payload())
    quote = termination_quote(state, AS_OF, None, SHANGHAI)
    assert row(state, rent("3500.00")).penalty == quote.amount


def test_card_hour_market_converts_with_the_hours_of_each_month():
    # 60 machines × 8 cards × 1 CNY/card-hour: January 2027 has 744 hours → 480 × 744 = 357,120.00
    state = sign(payload(closed_months=13))  # closed_end 2027-02-01: one month remains from AS_OF
    risk = row(state, rent("1.00", unit="card_hour"))
    assert risk.remaining_closed_value == Decimal("300000.00")
    assert risk.market_value == Decimal("357120.00")
    assert risk.drop < 0 and risk.at_risk is False
    assert rate_to_json(risk.break_even_rate) == "0.00"


def test_two_models_in_one_contract_priced_each_by_its_own_market():
    # RTX-4090: 10 machines at 7,200 → market 4,800 (machine-month); A800: 2 machines at 75,000 → market
    # per P-year. A800 312 TFLOPS per card, 8 cards: 2.496 P per machine. Market 120,000 per P-year →
    # 2.496 × 120,000 / 12 = 24,960 per machine-month. 12 months remain.
    a800 = {
        "id": "i-2",
        "pricing": "machine_month",
        "gpu_model": "A800",
        "cards_per_machine": 8,
        "machines": 2,
        "unit_price": "75000.00",
    }
    state = sign(payload(machines(10, "7200.00"), a800, closed_months=24))
    risk = row(state, rent("4800.00"), rent("120000.00", unit="p_year", model="A800"))
    contract_monthly = 10 * 7200 + 2 * 75000  # 222,000
    market_monthly = 10 * 4800 + 2 * Decimal("24960")  # 97,920
    assert risk.remaining_closed_value == Decimal(contract_monthly * 12).quantize(Decimal("0.01"))
    assert risk.market_value == (market_monthly * 12).quantize(Decimal("0.01"))
    assert risk.penalty == Decimal("532800.00")  # 0.20 × 2,664,000
    # saving = 2,664,000 − 1,175,040 − 532,800 = 956,160
    assert risk.saving_if_broken == Decimal("956160.00")
    assert risk.at_risk is True
    assert rate_to_json(risk.drop) == "0.5589"  # 1 − 1,175,040 / 2,664,000 = 0.55891…


def test_missing_market_for_one_model_says_so_and_guesses_nothing():
    a800 = {
        "id": "i-2",
        "pricing": "machine_month",
        "gpu_model": "A800",
        "cards_per_machine": 8,
        "machines": 2,
        "unit_price": "75000.00",
    }
    risk = row(sign(payload(machines(10, "7200.00"), a800)), rent("4800.00"))
    assert risk.drop is None and risk.saving_if_broken is None and risk.at_risk is False
    assert risk.missing_market and "A800" in risk.missing_market[0]


def test_open_term_contract_is_never_at_risk_but_shows_its_notice_cost():
    # 12 closed + 12 open from 2026-01-01; on 2027-01-01 it is in its open term. 30 days' notice from
    # 2027-01-01 runs to 2027-01-31: 30/31 of January's 300,000 = 290,322.58.
    state = sign(payload(closed_months=12, open_months=12))
    risk = row(state, rent("2000.00"))
    assert risk.term == "open" and risk.at_risk is False
    assert risk.penalty == Decimal("0.00") and risk.saving_if_broken is None
    assert risk.notice_cost == Decimal("290322.58")
    assert rate_to_json(risk.drop) == "0.60"
    assert "notice" in risk.note


def test_rows_sort_by_saving_largest_first():
    big = sign(payload(id="c-big"))
    small = sign(payload(machines(10), id="c-small"))
    open_term = sign(payload(id="c-open", closed_months=12, open_months=12))
    rows = sort_rows([row(s, rent("3000.00")) for s in (small, open_term, big)])
    assert [r.contract_id for r in rows] == ["c-big", "c-small", "c-open"]


def test_the_latest_observation_at_or_before_as_of_is_the_market():
    rents = [rent("5500.00", when="2026-11-01"), rent("4800.00", when="2026-12-01"), rent("1.00", when="2027-02-01")]
    assert latest(rents, "RTX-4090", "CNY", AS_OF).price == Decimal("4800.00")
    assert latest(rents, "RTX-4090", "USD", AS_OF) is None
    assert latest(rents, "RTX-4090", "CNY", datetime(2026, 1, 1, tzinfo=UTC)) is None


@given(st.integers(min_value=1, max_value=99))
def test_saving_is_zero_exactly_when_the_penalty_rate_equals_the_drop(percent):
    rate = Decimal(percent) / 100
    state = sign(payload(penalty={"basis": "remaining_closed_value", "rate": str(rate)}))
    market = (Decimal("5000.00") * (1 - rate)).quantize(Decimal("0.01"))
    risk = row(state, rent(str(market)))
    assert risk.saving_if_broken == Decimal("0.00")
    assert risk.break_even_rate == rate


def test_p_year_item_by_machines_is_priced_through_the_catalog_tflops():
    # 10 machines of 8×RTX-4090 as P: 10 × 8 × 165.2 / 1000 = 13.216 P at 120,000 per P-year → 132,160 a
    # month. Market 4,000 per machine-month = 40,000 a month for the same cards: drop 1 − 40,000/132,160.
    item = {"id": "i-p", "pricing": "p_year", "gpu_model": "RTX-4090", "machines": 10, "unit_price": "120000.00"}
    risk = row(sign(payload(item, closed_months=24)), rent("4000.00"))
    assert risk.remaining_closed_value == Decimal("1585920.00")  # 12 × 132,160
    assert risk.market_value == Decimal("480000.00")
    assert rate_to_json(risk.drop) == "0.6973"


def test_p_year_item_without_a_model_has_no_market():
    item = {"id": "i-p", "pricing": "p_year", "capacity_p": "100", "unit_price": "120000.00"}
    risk = row(sign(payload(item)), rent("4000.00"))
    assert risk.drop is None and "no GPU model" in risk.missing_market[0]
