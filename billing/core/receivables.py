"""What each invoice still owes: due dates, payment allocation, status and ageing          [pure]

- Due date: the end of the local day `issued_at + payment_terms_days` in the tenant's timezone
  (`due_at`); an invoice is overdue once that instant has passed with something still due.
- Allocation: a payment naming an invoice pays that invoice first, up to what remains of it
  (total − credited); every other payment, and what a named one leaves over, pays the tenant's
  oldest unpaid invoices of its currency first (by issue time, then number), in the order the
  payments were recorded. What no invoice takes is the tenant's credit balance, and the next
  invoice issued takes it. The result depends only on the documents, never on when it is
  computed, so replaying the same documents reproduces the same allocations.
- Status: `credited` (credit notes cover the whole total), `paid` (nothing due), `overdue` (due,
  past `due_at`), `partially_paid` (something paid, something due), `open`.
- Ageing: what is due, by days past the local due date: `current` (not yet due), `1_30`, `31_60`,
  `61_90`, `over_90`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from billing.core.periods import Zone, zone

ZERO = Decimal("0.00")
STATUSES = ("open", "partially_paid", "paid", "credited", "overdue")
BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")
DEFAULT_PAYMENT_TERMS_DAYS = 30


def due_date(issued_at: datetime, payment_terms_days: int, tz: Zone) -> date:
    """The local date on which an invoice falls due: its local issue date plus the terms."""
    return issued_at.astimezone(zone(tz)).date() + timedelta(days=payment_terms_days)


def due_at(issued_at: datetime, payment_terms_days: int, tz: Zone) -> datetime:
    """The end of the due date in `tz` (23:59:59 local, aware): after it the invoice is overdue."""
    day = due_date(issued_at, payment_terms_days, tz)
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone(tz))


@dataclass(frozen=True)
class Receivable:
    """An issued invoice as allocation sees it. credited: Σ its credit notes."""

    id: str
    number: str
    issued_at: datetime
    total: Decimal
    credited: Decimal = ZERO

    @property
    def payable(self) -> Decimal:
        """What payments can settle: the total less credit notes (never below zero)."""
        return max(self.total - self.credited, ZERO)


@dataclass(frozen=True)
class Receipt:
    """A payment in the invoices' currency, in recording order. invoice_id: the invoice it names."""

    id: str
    amount: Decimal
    invoice_id: str | None = None


@dataclass(frozen=True)
class Allocation:
    payment_id: str
    invoice_id: str
    amount: Decimal


@dataclass(frozen=True)
class Allocated:
    """allocations: in the order they were made; unallocated: per payment, what no invoice took."""

    allocations: tuple[Allocation, ...]
    unallocated: dict[str, Decimal]

    def paid(self, invoice_id: str) -> Decimal:
        return sum((a.amount for a in self.allocations if a.invoice_id == invoice_id), ZERO)

    def of_payment(self, payment_id: str) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.payment_id == payment_id)

    @property
    def credit_balance(self) -> Decimal:
        return sum(self.unallocated.values(), ZERO)


def allocate(invoices: Iterable[Receivable], payments: Iterable[Receipt]) -> Allocated:
    """Allocate `payments` (recording order) to `invoices` of one tenant and currency (see module)."""
    ordered = sorted(invoices, key=lambda i: (i.issued_at, i.number))
    remaining = {i.id: i.payable for i in ordered}
    payments = list(payments)
    allocations: list[Allocation] = []
    left: dict[str, Decimal] = {}
    for payment in payments:
        left[payment.id] = payment.amount
        if payment.invoice_id in remaining:
            take = min(payment.amount, remaining[payment.invoice_id])
            if take > 0:
                allocations.append(Allocation(payment.id, payment.invoice_id, take))
                remaining[payment.invoice_id] -= take
                left[payment.id] -= take
    for payment in payments:
        for invoice in ordered:
            if left[payment.id] <= 0:
                break
            take = min(left[payment.id], remaining[invoice.id])
            if take > 0:
                allocations.append(Allocation(payment.id, invoice.id, take))
                remaining[invoice.id] -= take
                left[payment.id] -= take
    return Allocated(tuple(allocations), {p: amount for p, amount in left.items() if amount > 0})


def status(total: Decimal, credited: Decimal, paid: Decimal, due: datetime, now: datetime) -> str:
    """The invoice's status at `now` (see module); `due` is its `due_at`."""
    if total > 0 and credited >= total:
        return "credited"
    if total - credited - paid <= 0:
        return "paid"
    if now > due:
        return "overdue"
    return "partially_paid" if paid > 0 else "open"


def bucket(days_past_due: int) -> str:
    """The ageing bucket of an amount `days_past_due` days after its due date (0 or less: current)."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1_30"
    if days_past_due <= 60:
        return "31_60"
    if days_past_due <= 90:
        return "61_90"
    return "over_90"


def days_past_due(due_on: date, as_of: date) -> int:
    return (as_of - due_on).days


def empty_buckets() -> dict[str, Decimal]:
    return {name: ZERO for name in BUCKETS}
