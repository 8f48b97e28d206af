"""The statement of account (SPEC §8): opening + invoiced − credited − paid = closing, per currency;
a month lists the invoices billing it and the credit notes and payments dated in it, and each month
opens where the month before closed."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.periods import Period, period_of
from billing.core.statement import ZERO, Document, assemble, balances, for_month, main_currency

SHANGHAI = "Asia/Shanghai"


def doc(kind: str, at: str, amount: str, currency: str = "CNY", number: str = "", period: str = "") -> Document:
    billed = Period.parse(period) if period else None
    number = number or f"{kind}-{at}"
    return Document(kind, datetime.fromisoformat(at), number, currency, Decimal(amount), period=billed)


def statement_for(period: Period, documents: list[Document], tz: str = SHANGHAI):
    return for_month(documents, period, tz)


def test_entries_in_date_order_with_running_balance_and_closing():
    (cny,) = assemble(
        {"CNY": Decimal("1000.00")},
        [
            doc("payment", "2026-10-20T10:00:00+08:00", "1000.00"),
            doc("invoice", "2026-10-01T09:00:00+08:00", "3816.00"),
            doc("credit_note", "2026-10-05T09:00:00+08:00", "116.00"),
        ],
    )
    assert cny.opening == Decimal("1000.00")
    assert [(e.document.kind, e.debit, e.credit, e.balance) for e in cny.entries] == [
        ("invoice", Decimal("3816.00"), ZERO, Decimal("4816.00")),
        ("credit_note", ZERO, Decimal("116.00"), Decimal("4700.00")),
        ("payment", ZERO, Decimal("1000.00"), Decimal("3700.00")),
    ]
    assert (cny.invoiced, cny.credited, cny.paid, cny.closing) == (
        Decimal("3816.00"),
        Decimal("116.00"),
        Decimal("1000.00"),
        Decimal("3700.00"),
    )


def test_same_instant_lists_invoice_before_credit_note_before_payment():
    at = "2026-10-01T00:00:00+08:00"
    (page,) = assemble({}, [doc("payment", at, "1"), doc("credit_note", at, "1"), doc("invoice", at, "5")])
    assert [e.document.kind for e in page.entries] == ["invoice", "credit_note", "payment"]


def test_currencies_are_separate_pages_and_a_settled_currency_disappears():
    pages = assemble({"USD": ZERO, "EUR": Decimal("5.00")}, [doc("invoice", "2026-10-02T00:00:00+08:00", "7.00")])
    assert [(p.currency, p.opening, p.closing) for p in pages] == [
        ("CNY", ZERO, Decimal("7.00")),
        ("EUR", Decimal("5.00"), Decimal("5.00")),
    ]


def test_a_tenant_with_nothing_gets_a_zero_page_in_its_currency():
    (page,) = assemble({}, [], default_currency="CNY")
    assert (page.currency, page.opening, page.entries, page.closing) == ("CNY", ZERO, (), ZERO)


def test_payment_at_local_midnight_belongs_to_the_new_month_in_the_tenants_zone():
    # 2026-09-30T16:00Z is 1 October 00:00 in Shanghai: October's, not September's.
    payment = Document("payment", datetime(2026, 9, 30, 16, tzinfo=UTC), "BANK-1", "CNY", Decimal("10.00"))
    assert statement_for(Period(2026, 9), [payment]) == []
    (october,) = statement_for(Period(2026, 10), [payment])
    assert october.closing == Decimal("-10.00")


def test_invoice_issued_after_its_period_is_on_that_periods_statement():
    october_invoice = doc("invoice", "2026-11-02T09:00:00+08:00", "7632.00", number="KS-2", period="2026-10")
    payment = doc("payment", "2026-11-20T10:00:00+08:00", "5000.00", number="BANK-2")
    documents = [october_invoice, payment]
    (october,) = statement_for(Period(2026, 10), documents)
    assert (october.opening, october.of_kind("invoice"), october.closing) == (
        ZERO,
        (october_invoice,),
        Decimal("7632.00"),
    )
    (november,) = statement_for(Period(2026, 11), documents)
    assert (november.opening, november.of_kind("invoice"), november.of_kind("payment"), november.closing) == (
        Decimal("7632.00"),
        (),
        (payment,),
        Decimal("2632.00"),
    )


def test_a_months_invoice_issued_later_follows_the_months_payment_in_date_order():
    invoice = doc("invoice", "2026-11-02T09:00:00+08:00", "100.00", period="2026-10")
    payment = doc("payment", "2026-10-20T10:00:00+08:00", "30.00")
    (october,) = statement_for(Period(2026, 10), [invoice, payment])
    assert [(e.document.kind, e.balance) for e in october.entries] == [
        ("payment", Decimal("-30.00")),
        ("invoice", Decimal("70.00")),
    ]


def test_main_currency_is_the_tenants_unless_all_documents_are_in_one_other():
    assert main_currency("CNY", []) == "CNY"
    assert main_currency("CNY", ["CNY", "USD"]) == "CNY"
    assert main_currency("CNY", ["USD"]) == "USD"
    assert main_currency("CNY", ["USD", "EUR"]) == "CNY"


FIRST = Period(2026, 1)
AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)


def _document(kind: str, seconds: int, amount: Decimal, currency: str, n: int, late: int) -> Document:
    at = FIRST.start(SHANGHAI) + timedelta(seconds=seconds)
    # An invoice bills a period that ended before it was issued: 1–3 months earlier.
    period = period_of(at, SHANGHAI).shift(-late) if kind == "invoice" else None
    return Document(kind, at, f"D{n}", currency, amount, period=period)


DOCUMENTS = st.lists(
    st.builds(
        _document,
        st.sampled_from(["invoice", "credit_note", "payment"]),
        st.integers(min_value=-40 * 86_400, max_value=190 * 86_400),  # some before the first month
        AMOUNTS,
        st.sampled_from(["CNY", "USD"]),
        st.integers(0, 10**6),
        st.integers(1, 3),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(documents=DOCUMENTS)
def test_each_month_opens_at_the_last_months_closing_and_adds_up(documents):
    months = [FIRST.shift(n) for n in range(6)]
    closing_before: dict[str, Decimal] = balances(d for d in documents if d.month(SHANGHAI) < FIRST)
    for month in months:
        pages = {p.currency: p for p in statement_for(month, documents)}
        for currency in set(pages) | set(closing_before):
            page = pages.get(currency)
            opening = page.opening if page else ZERO
            assert opening == closing_before.get(currency, ZERO)
            if page is None:
                assert closing_before[currency] == 0  # a currency with a balance is never left off
                continue
            assert page.opening + page.invoiced - page.credited - page.paid == page.closing
            assert [e.document.sort_key() for e in page.entries] == sorted(e.document.sort_key() for e in page.entries)
            for e in page.entries:
                d = e.document
                assert (d.period if d.kind == "invoice" else period_of(d.at, SHANGHAI)) == month
        closing_before = {c: p.closing for c, p in pages.items()}
    everything = balances(documents)
    last = statement_for(months[-1], documents)
    after = balances(d for d in documents if d.month(SHANGHAI) > months[-1])
    for page in last:
        assert page.closing + after.get(page.currency, ZERO) == everything[page.currency]
