"""Resale rules and the broker's margin and exposure, hand-computed (SPEC §17); no servers."""

from __future__ import annotations

from decimal import Decimal

from billing.core.catalog import DEFAULT_CATALOG
from billing.core.margin import margin_row
from billing.core.periods import Period
from billing.core.supply import supply_conflicts
from tests.unit.billing.billing_kit import SHANGHAI, amend, at, machines, payload, sign, terminate

TFLOPS = DEFAULT_CATALOG.tflops


def bought(count=60, **terms):
    document = payload(machines(count), id="c-buy", **{"open_months": 24, **terms})
    document.pop("tenant_id")
    return sign({**document, "supplier_id": "centre"})


def resold(n, count, **terms):
    return sign(
        payload(machines(count, "7200.00", supplied_by="c-buy/i-1"), id=f"c-sell-{n}", tenant_id=f"t-{n}", **terms)
    )


def test_resale_up_to_what_was_bought_holds_and_one_more_card_does_not():
    payable = bought()
    fits = [(resold(1, 40), "i-1", SHANGHAI), (resold(2, 20), "i-1", SHANGHAI)]
    assert supply_conflicts(payable, "i-1", SHANGHAI, fits, TFLOPS) == []
    over = [*fits, (resold(3, 1), "i-1", SHANGHAI)]
    problems = supply_conflicts(payable, "i-1", SHANGHAI, over, TFLOPS)
    assert problems and "488 cards resold" in problems[0]["reason"] and "480 bought" in problems[0]["reason"]


def test_resale_beyond_the_payable_contract_term_is_refused():
    payable = bought(closed_months=12, open_months=0)  # ends 2027-01-01
    problems = supply_conflicts(payable, "i-1", SHANGHAI, [(resold(1, 10), "i-1", SHANGHAI)], TFLOPS)
    assert "0 bought" in problems[0]["reason"]


def test_buying_back_below_what_was_resold_is_refused():
    payable = amend(bought(), "i-1", at("2026-06-01"), machines=30)
    problems = supply_conflicts(payable, "i-1", SHANGHAI, [(resold(1, 40), "i-1", SHANGHAI)], TFLOPS)
    assert "2026-05-31T16:00:00Z" in problems[0]["reason"]


def test_a_tenant_contract_is_not_a_payable_one():
    problems = supply_conflicts(resold(9, 1), "i-1", SHANGHAI, [(resold(1, 1), "i-1", SHANGHAI)], TFLOPS)
    assert "no payable contract" in problems[0]["reason"]


def test_margin_after_a_tenant_left_with_penalty_while_the_supplier_runs_on():
    # Bought 60 × 5,000 from 2026-01-01 (36 closed); resold 20 + 20 + 20 × 7,200 (36 closed). Tenant 3
    # terminates effective 2027-01-01: penalty 0.20 × 24 × 144,000 = 691,200.00, revenue of January 2027.
    payable = bought()
    one, two = resold(1, 20), resold(2, 20)
    three = terminate(resold(3, 20), at("2027-01-01"))
    resales = [(one, "i-1", SHANGHAI), (two, "i-1", SHANGHAI), (three, "i-1", SHANGHAI)]
    row = margin_row(payable, "i-1", SHANGHAI, resales, Period(2027, 1), at("2027-02-01"), TFLOPS)
    assert (row.cost, row.revenue, row.margin) == (Decimal("300000.00"), Decimal("979200.00"), Decimal("679200.00"))
    assert row.to_json()["margin_rate"] == "0.6936"
    assert (row.machines_bought, row.machines_resold) == (60, 40)
    # As of 2027-02-01, 23 months remain: owed 6,900,000; two tenants cover 2 × 3,312,000 = 6,624,000.
    assert row.exposure == Decimal("276000.00")
    # A month later nothing of tenant 3 comes in, the centre is paid as before.
    later = margin_row(payable, "i-1", SHANGHAI, resales, Period(2027, 2), at("2027-03-01"), TFLOPS)
    assert (later.cost, later.revenue, later.exposure) == (
        Decimal("300000.00"),
        Decimal("288000.00"),
        Decimal("264000.00"),
    )
