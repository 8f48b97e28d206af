"""A tenant's statement of account for one month, per currency (SPEC §8)          [pure]

balance = invoices − credit notes − payments; positive means the tenant owes. A statement opens
with the balance of every document dated before the month, lists each document dated inside it
in date order with the running balance, and closes with the balance after the last one. So the
opening balance of a month is the closing balance of the month before, always.

A document's date is when it took effect: an invoice's or credit note's `issued_at`, a payment's
`received_at`. Which month it falls in is decided in the tenant's timezone (SPEC §2), by the caller
choosing the window; this module only folds documents into balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ZERO = Decimal("0.00")
KINDS = ("invoice", "credit_note", "payment")
"""Document kinds; on the same instant they are listed in this order."""
_SIGN = {"invoice": 1, "credit_note": -1, "payment": -1}


@dataclass(frozen=True)
class Document:
    """One invoice, credit note or payment as it moves the balance.

    at: when it took effect (aware). amount: as issued or received, positive, in `currency`.
    number: the invoice or credit note number, or the payment's reference.
    refers_to: for a credit note, the number of the invoice it corrects; else "".
    """

    kind: str
    at: datetime
    number: str
    currency: str
    amount: Decimal
    description: str = ""
    refers_to: str = ""

    @property
    def effect(self) -> Decimal:
        """What it adds to the balance: + for an invoice, − for a credit note or payment."""
        return _SIGN[self.kind] * self.amount

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

    def _sum(self, kind: str) -> Decimal:
        return sum((e.document.amount for e in self.entries if e.document.kind == kind), ZERO)

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


def assemble(opening: Mapping[str, Decimal], documents: Iterable[Document],
             default_currency: str | None = None) -> list[CurrencyStatement]:  # fmt: skip
    """The month's statement, one page per currency, ordered by currency code.

    opening: the balance per currency before the month (`balances` of every earlier document).
    documents: those dated inside the month, any order.
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
