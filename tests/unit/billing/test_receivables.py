"""Due dates, payment allocation, invoice status and ageing buckets (pure, exact Decimals)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.core.receivables import Receipt, Receivable, allocate, bucket, days_past_due, due_at, status

D = Decimal


def _inv(n: int, total: str, credited: str = "0.00") -> Receivable:
    return Receivable(f"inv{n}", f"KS-2026-{n:06d}", datetime(2026, n, 1, 2, tzinfo=UTC), D(total), D(credited))


def test_due_at_is_the_end_of_the_local_day_terms_after_issue():
    issued = datetime(2026, 10, 31, 17, 30, tzinfo=UTC)  # 2026-11-01 01:30 in Shanghai
    assert due_at(issued, 30, "Asia/Shanghai").isoformat() == "2026-12-01T23:59:59+08:00"
    assert due_at(issued, 0, "UTC").isoformat() == "2026-10-31T23:59:59+00:00"


def test_unnamed_payments_pay_the_oldest_invoice_first_and_the_rest_is_credit():
    invoices = [_inv(3, "300.00"), _inv(1, "100.00"), _inv(2, "200.00")]
    result = allocate(invoices, [Receipt("p1", D("150.00")), Receipt("p2", D("500.00"))])
    assert [(a.payment_id, a.invoice_id, a.amount) for a in result.allocations] == [
        ("p1", "inv1", D("100.00")),
        ("p1", "inv2", D("50.00")),
        ("p2", "inv2", D("150.00")),
        ("p2", "inv3", D("300.00")),
    ]
    assert result.unallocated == {"p2": D("50.00")} and result.credit_balance == D("50.00")


def test_a_named_invoice_is_paid_first_and_its_leftover_pays_the_oldest():
    invoices = [_inv(1, "100.00"), _inv(2, "200.00")]
    result = allocate(invoices, [Receipt("p1", D("100.00")), Receipt("p2", D("250.00"), invoice_id="inv2")])
    assert result.paid("inv2") == D("200.00") and result.paid("inv1") == D("100.00")
    assert [(a.payment_id, a.invoice_id, a.amount) for a in result.of_payment("p2")] == [("p2", "inv2", D("200.00"))]
    assert result.unallocated == {"p2": D("50.00")}


def test_credit_notes_lower_what_payments_can_settle():
    result = allocate([_inv(1, "100.00", credited="40.00"), _inv(2, "50.00")], [Receipt("p1", D("80.00"))])
    assert result.paid("inv1") == D("60.00") and result.paid("inv2") == D("20.00")


def test_a_credit_balance_pays_an_invoice_issued_later():
    before = allocate([_inv(1, "100.00")], [Receipt("p1", D("130.00"))])
    assert before.credit_balance == D("30.00")
    after = allocate([_inv(1, "100.00"), _inv(2, "50.00")], [Receipt("p1", D("130.00"))])
    assert after.paid("inv2") == D("30.00") and after.credit_balance == D("0.00")


NOW = datetime(2026, 12, 1, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("total", "credited", "paid", "now", "expected"),
    [
        ("100.00", "0.00", "0.00", NOW, "open"),
        ("100.00", "0.00", "40.00", NOW, "partially_paid"),
        ("100.00", "0.00", "100.00", NOW, "paid"),
        ("100.00", "60.00", "40.00", NOW, "paid"),
        ("100.00", "100.00", "0.00", NOW, "credited"),
        ("100.00", "0.00", "40.00", datetime(2026, 12, 1, 16, tzinfo=UTC), "overdue"),
        ("100.00", "0.00", "0.00", DUE, "open"),
        ("0.00", "0.00", "0.00", NOW, "paid"),
    ],
)
def test_status(total, credited, paid, now, expected):
    assert status(D(total), D(credited), D(paid), DUE, now) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, "current"),
        (-5, "current"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "over_90"),
    ],
)
def test_ageing_buckets_at_their_edges(days, expected):
    assert bucket(days) == expected
    assert days_past_due(date(2026, 1, 1), date.fromordinal(date(2026, 1, 1).toordinal() + days)) == days


amounts = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@given(
    st.lists(amounts, min_size=1, max_size=6),
    st.lists(amounts, max_size=6),
    st.lists(st.integers(min_value=-1, max_value=5), max_size=6),
)
def test_allocation_never_overpays_and_accounts_for_every_cent(totals, paid, named):
    invoices = [_inv(n + 1, str(t)) for n, t in enumerate(totals)]
    receipts = [
        Receipt(f"p{n}", a, f"inv{named[n] + 1}" if n < len(named) and named[n] >= 0 else None)
        for n, a in enumerate(paid)
    ]
    result = allocate(invoices, receipts)
    for invoice in invoices:
        assert result.paid(invoice.id) <= invoice.total
    for receipt in receipts:
        taken = sum((a.amount for a in result.of_payment(receipt.id)), D(0))
        assert taken + result.unallocated.get(receipt.id, D(0)) == receipt.amount
    owed = sum((i.total for i in invoices), D(0))
    assert sum((a.amount for a in result.allocations), D(0)) == min(owed, sum(paid, D(0)))
    assert allocate(list(reversed(invoices)), receipts) == result
