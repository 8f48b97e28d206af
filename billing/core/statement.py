"""A tenant's statement of account for one month, per currency (SPEC §8)          [pure]

balance = invoices − credit notes − payments; positive means the tenant owes. The statement of
month M lists the invoices that bill M (their `period`, whenever they were issued: closing October
on 2 November puts that invoice on October's statement) and the credit notes and payments dated in
M in the tenant's timezone (SPEC §2). It opens with the balance of everything that belongs to an
earlier month and closes with the balance after this month's documents. Each document belongs to
exactly one month, so the opening balance of a month is the closing balance of the month before.

Within the month the documents are listed in date order with the running balance. A document's
date is when it took effect: an invoice's or credit note's `issued_at`, a payment's `received_at`;
so a month's own invoice, issued after the month has ended, comes after the month's payments. On
the same instant an invoice comes first, then credit notes, then payments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.core.periods import Period, Zone, period_of

ZERO = Decimal("0.00")
KINDS = ("invoice", "credit_note", "payment")
"""Document kinds; on the same instant they are listed in this order."""
_SIGN = {"invoice": 1, "credit_note": -1, "payment": -1}


@dataclass(frozen=True)
class Document:
    """One invoice, credit note or payment as it moves the balance.

    at: when it took effect (aware). amount: an invoice's total, a credit note's or payment's amount,
    positive, in `currency`. number: the invoice or credit note number, or the payment's reference.
    refers_to: for a credit note, the number of the invoice it corrects; else "".
    period: for an invoice, the period it bills (which month's statement lists it); else None.
    id: the document's id ("" when it has none, as in tests).
    """

    kind: str
    at: datetime
    number: str
    currency: str
    amount: Decimal
    description: str = ""
    refers_to: str = ""
    period: Period | None = None
    id: str = ""

    @property
    def effect(self) -> Decimal:
        """What it adds to the balance: + for an invoice, − for a credit note or payment."""
        return _SIGN[self.kind] * self.amount

    def month(self, tz: Zone) -> Period:
        """The month whose statement lists it: an invoice's billing period (its issue month when it
        has none); a credit note's or payment's month in `tz`."""
        if self.kind == "invoice" and self.period is not None:
            return self.period
        return period_of(self.at, tz)

    def sort_key(self) -> tuple:
        return (self.at, KINDS.index(self.kind), self.number)


@dataclass(frozen=True)
class Entry:
    """A document on the statement, with the balance after it."""

    document: Document
    balance: Decimal

    @property
    def debit(self) -> Decimal:
        return self.document.amount if self.document.effect > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return self.document.amount if self.document.effect < 0 else ZERO


@dataclass(frozen=True)
class CurrencyStatement:
    """One currency's page: opening + invoiced − credited − paid = closing."""

    currency: str
    opening: Decimal
    entries: tuple[Entry, ...]

    def of_kind(self, kind: str) -> tuple[Document, ...]:
        """This month's documents of `kind`, in statement order."""
        return tuple(e.document for e in self.entries if e.document.kind == kind)

    def _sum(self, kind: str) -> Decimal:
        return sum((d.amount for d in self.of_kind(kind)), ZERO)

    @property
    def invoiced(self) -> Decimal:
        return self._sum("invoice")

    @property
    def credited(self) -> Decimal:
        return self._sum("credit_note")

    @property
    def paid(self) -> Decimal:
        return self._sum("payment")

    @property
    def closing(self) -> Decimal:
        return self.entries[-1].balance if self.entries else self.opening


def balances(documents: Iterable[Document]) -> dict[str, Decimal]:
    """The balance per currency after `documents` (any order)."""
    totals: dict[str, Decimal] = {}
    for document in documents:
        totals[document.currency] = totals.get(document.currency, ZERO) + document.effect
    return totals


def assemble(
    opening: Mapping[str, Decimal], documents: Iterable[Document], default_currency: str | None = None
) -> list[CurrencyStatement]:
    """The month's statement, one page per currency, ordered by currency code.

    opening: the balance per currency before the month (`balances` of every earlier month's document).
    documents: those that belong to the month (`Document.month`), any order.
    default_currency: shown with zeros when the tenant has no balance and no document at all.
    A currency appears when it has an opening balance other than zero or a document this month.
    """
    by_currency: dict[str, list[Document]] = {c: [] for c, amount in opening.items() if amount != 0}
    for document in documents:
        by_currency.setdefault(document.currency, []).append(document)
    if not by_currency and default_currency:
        by_currency[default_currency] = []
    pages = []
    for currency in sorted(by_currency):
        balance = opening.get(currency, ZERO)
        entries = []
        for document in sorted(by_currency[currency], key=Document.sort_key):
            balance += document.effect
            entries.append(Entry(document, balance))
        pages.append(CurrencyStatement(currency, opening.get(currency, ZERO), tuple(entries)))
    return pages


def for_month(
    documents: Iterable[Document], month: Period, tz: Zone, default_currency: str | None = None
) -> list[CurrencyStatement]:
    """The statement of `month` from all of a tenant's documents (the rule the service's SQL follows)."""
    documents = list(documents)
    opening = balances(d for d in documents if d.month(tz) < month)
    return assemble(opening, [d for d in documents if d.month(tz) == month], default_currency)


def main_currency(tenant_currency: str, currencies: Iterable[str]) -> str:
    """The currency a statement leads with: the tenant's own, unless every document the tenant has
    is in one other currency (a CNY-default tenant billed only in USD leads with USD).

    currencies: those of the tenant's documents up to the end of the month.
    """
    known = set(currencies)
    if tenant_currency in known or len(known) != 1:
        return tenant_currency
    (only,) = known
    return only
