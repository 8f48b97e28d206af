from decimal import Decimal

from billing_kit import SHANGHAI, amend, amounts, at, card_hours, machines, payload, sign, terminate, tokens

from billing.core.invoicing import adjustment_lines, assemble_invoices, one_off_lines
from billing.core.periods import Period
from billing.core.pricing import Usage, charges_for_period
from billing.core.terms import termination_lines

OCTOBER, NOVEMBER = Period(2026, 10), Period(2026, 11)
HOUR = 3600


def test_two_currencies_make_two_invoices():
    cny = sign(payload(machines(10, "7200.00"), id="c-cny"))
    usd = sign(payload(tokens(), id="c-usd", currency="USD", tax_rate="0"))
    usage = Usage(tokens={("c-usd", "i-4", "output"): 2_000_000})
    drafts = assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [usd, cny], usage)
    assert [(d.currency, d.subtotal, d.tax, d.total) for d in drafts] == [
        ("CNY", Decimal("72000.00"), Decimal("4320.00"), Decimal("76320.00")),
        ("USD", Decimal("16.00"), Decimal("0.00"), Decimal("16.00")),
    ]
    assert [line.contract_id for line in drafts[1].lines] == ["c-usd"]


def test_another_tenants_contracts_and_empty_currencies_make_no_invoice():
    theirs = sign(payload(id="c-theirs", tenant_id="tenant-b"))
    idle = sign(payload(tokens(), id="c-idle", currency="USD"))
    assert assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [theirs, idle]) == []


def test_totals_are_sums_of_rounded_lines():
    state = sign(payload(machines(7, "3333.33"), card_hours(unit_price="0.333333", committed=None)))
    usage = Usage({("c-1", "i-3"): 1000})
    (draft,) = assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [state], usage)
    assert amounts(draft.lines) == [("machine_month", Decimal("23333.31")), ("gpu_hour", Decimal("0.09"))]
    assert draft.subtotal == Decimal("23333.40")
    assert draft.tax == Decimal("1400.00") + Decimal("0.01")
    assert draft.total == draft.subtotal + draft.tax


def test_the_invoice_of_the_month_a_spec_termination_takes_effect():
    state = terminate(sign(payload()), at("2027-01-01"))
    (december,) = assemble_invoices("tenant-a", Period(2026, 12), SHANGHAI, [state])
    assert amounts(december.lines) == [("machine_month", Decimal("300000.00"))]
    (january,) = assemble_invoices("tenant-a", Period(2027, 1), SHANGHAI, [state])
    assert amounts(january.lines) == [("penalty", Decimal("1440000.00"))]
    assert (january.subtotal, january.tax, january.total) == (
        Decimal("1440000.00"),
        Decimal("86400.00"),
        Decimal("1526400.00"),
    )


def test_a_mid_month_termination_bills_fees_then_the_penalty():
    state = terminate(sign(payload()), at("2026-10-17"))
    (draft,) = assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [state])
    assert [line.kind for line in draft.lines] == ["machine_month", "penalty"]
    assert draft.lines[1] == termination_lines(sign(payload()), at("2026-10-17"), None, SHANGHAI)[0]


def test_a_reducing_amendment_bills_its_penalty_in_the_month_it_takes_effect():
    state = amend(sign(payload()), "i-1", at("2027-01-01"), machines=40)
    state = amend(state, "i-1", at("2027-06-01"), machines=45)
    assert amounts(one_off_lines(state, Period(2027, 1), SHANGHAI)) == [("penalty", Decimal("480000.00"))]
    assert one_off_lines(state, Period(2027, 6), SHANGHAI) == []
    (draft,) = assemble_invoices("tenant-a", Period(2027, 1), SHANGHAI, [state])
    assert amounts(draft.lines) == [("machine_month", Decimal("200000.00")), ("penalty", Decimal("480000.00"))]


def test_given_termination_lines_are_billed_as_given():
    state = sign(payload())
    given = termination_lines(state, at("2026-10-17"), None, SHANGHAI)
    (draft,) = assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [state], terminations=given)
    assert [line.kind for line in draft.lines] == ["machine_month", "penalty"]


def _committed_contract():
    return sign(payload(card_hours()))  # 1,000 committed H100 card-hours a month at 12.50


def test_late_usage_already_paid_as_shortfall_nets_to_zero():
    state = _committed_contract()
    charged = charges_for_period(state, OCTOBER, SHANGHAI, Usage({("c-1", "i-3"): 900 * HOUR}))
    assert amounts(charged) == [("gpu_hour", Decimal("11250.00")), ("gpu_hour_shortfall", Decimal("1250.00"))]
    recomputed = charges_for_period(state, OCTOBER, SHANGHAI, Usage({("c-1", "i-3"): 950 * HOUR}))
    assert adjustment_lines(OCTOBER, charged, recomputed, SHANGHAI) == []


def test_late_usage_beyond_the_commitment_is_adjusted_on_the_next_invoice():
    state = _committed_contract()
    charged = charges_for_period(state, OCTOBER, SHANGHAI, Usage({("c-1", "i-3"): 900 * HOUR}))
    recomputed = charges_for_period(state, OCTOBER, SHANGHAI, Usage({("c-1", "i-3"): 1050 * HOUR}))
    adjustments = adjustment_lines(OCTOBER, charged, recomputed, SHANGHAI)
    assert [(a.kind, a.item_id, a.amount, a.tax) for a in adjustments] == [
        ("adjustment", "i-3", Decimal("625.00"), Decimal("37.50"))
    ]
    assert (adjustments[0].period_start, adjustments[0].period_end) == (at("2026-10-01"), at("2026-11-01"))
    assert "2026-10" in adjustments[0].description
    (november,) = assemble_invoices("tenant-a", NOVEMBER, SHANGHAI, [state], adjustments=adjustments)
    assert amounts(november.lines) == [("gpu_hour_shortfall", Decimal("12500.00")), ("adjustment", Decimal("625.00"))]
    # A later correction counts what the first adjustment already billed.
    again = charges_for_period(state, OCTOBER, SHANGHAI, Usage({("c-1", "i-3"): 1100 * HOUR}))
    assert [a.amount for a in adjustment_lines(OCTOBER, [*charged, *adjustments], again, SHANGHAI)] == [
        Decimal("625.00")
    ]


def test_late_tokens_are_adjusted_per_item():
    state = sign(payload(tokens()))
    charged = charges_for_period(state, OCTOBER, SHANGHAI, Usage(tokens={("c-1", "i-4", "input"): 1_000_000}))
    late = Usage(tokens={("c-1", "i-4", "input"): 1_000_000, ("c-1", "i-4", "output"): 500_000})
    recomputed = charges_for_period(state, OCTOBER, SHANGHAI, late)
    assert [a.amount for a in adjustment_lines(OCTOBER, charged, recomputed, SHANGHAI)] == [Decimal("4.00")]


def test_an_invoice_draft_reads_as_the_spec_invoice_json():
    (draft,) = assemble_invoices("tenant-a", OCTOBER, SHANGHAI, [sign(payload(machines(10, "7200.00")))])
    document = draft.to_json()
    assert {k: v for k, v in document.items() if k != "lines"} == {
        "tenant_id": "tenant-a",
        "period": "2026-10",
        "currency": "CNY",
        "subtotal": "72000.00",
        "tax": "4320.00",
        "total": "76320.00",
    }
    assert document["lines"][0]["amount"] == "72000.00"
