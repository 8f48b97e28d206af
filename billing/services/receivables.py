"""Service: what each invoice still owes, where each payment went, and receivables by age (SPEC §12).

Nothing here writes: invoice status, the amounts paid and due, and payment allocations are derived
at read time from the issued documents (invoices with the due date stored at issue, credit notes,
payments) through the pure rules of `billing.core.receivables`, so an issued invoice row never
changes and a replay of the same documents reproduces the same allocations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from billing.core import receivables as rules
from billing.core.money import to_json
from billing.core.periods import instant_to_json
from billing.store import receivables as store

ZERO = rules.ZERO


@dataclass
class Ledger:
    """One tenant's documents in one currency, and their allocation."""

    tenant_id: str
    currency: str
    timezone: str
    invoices: list[Any] = field(default_factory=list)
    credited: dict[str, Decimal] = field(default_factory=dict)
    payments: list[Any] = field(default_factory=list)
    due_at: dict[str, datetime] = field(default_factory=dict)
    allocated: rules.Allocated | None = None

    def allocate(self) -> Ledger:
        receivables = [
            rules.Receivable(r.id, r.number, r.issued_at, r.total, self.credited.get(r.id, ZERO)) for r in self.invoices
        ]
        receipts = [rules.Receipt(p.id, p.amount, p.invoice_id) for p in self.payments]
        self.allocated = rules.allocate(receivables, receipts)
        return self

    def figures(self, invoice: Any, now: datetime) -> dict[str, Any]:
        credited = self.credited.get(invoice.id, ZERO)
        paid = self.allocated.paid(invoice.id)
        due = self.due_at[invoice.id]
        return {
            "due_at": instant_to_json(due),
            "amount_credited": to_json(credited),
            "amount_paid": to_json(paid),
            "amount_due": to_json(max(invoice.total - credited - paid, ZERO)),
            "status": rules.status(invoice.total, credited, paid, due, now),
        }


def ledgers(
    conn: Connection,
    *,
    tenant_id: str | None = None,
    currency: str | None = None,
    until: datetime | None = None,
    tenant_ids: list[str] | None = None,
) -> dict[tuple[str, str], Ledger]:
    """Every (tenant, currency) ledger — of `tenant_id`, or of `tenant_ids`, or of every tenant —
    allocated, in three queries; `until` keeps only documents dated before it."""
    if tenant_id is not None:
        tenant_ids = [tenant_id]
    params = {"tenant_ids": tenant_ids, "currency": currency, "until": until}
    books: dict[tuple[str, str], Ledger] = {}

    def book(row) -> Ledger:
        key = (row.tenant_id, row.currency)
        if key not in books:
            books[key] = Ledger(row.tenant_id, row.currency, row.timezone)
        return books[key]

    for row in store.invoice_rows(conn, **params):
        ledger = book(row)
        ledger.invoices.append(row)
        ledger.due_at[row.id] = row.due_at or rules.due_at(row.issued_at, row.terms, row.timezone)
    credited = store.credited(conn, **params)
    for ledger in books.values():
        ledger.credited = {i.id: credited[i.id] for i in ledger.invoices if i.id in credited}
    for row in store.payment_rows(conn, **params):
        book(row).payments.append(row)
    return {key: ledger.allocate() for key, ledger in books.items()}


def invoice_figures(conn: Connection, rows: list[Any], now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per invoice id: due_at, amount_credited, amount_paid, amount_due and status at `now`."""
    now = now or datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    if not rows:
        return out
    wanted = {(r.tenant_id, r.currency) for r in rows}
    books = ledgers(conn, tenant_ids=sorted({tenant_id for tenant_id, _ in wanted}))
    for key in sorted(wanted):
        ledger = books.get(key)
        for invoice in ledger.invoices if ledger else ():
            out[invoice.id] = ledger.figures(invoice, now)
    return out


def allocations_of(conn: Connection, payment: Any) -> dict[str, Any]:
    """`allocations` (invoice id, number, amount) and `unallocated` of one payment row."""
    ledger = ledgers(conn, tenant_id=payment.tenant_id, currency=payment.currency)[
        (payment.tenant_id, payment.currency)
    ]
    numbers = {i.id: i.number for i in ledger.invoices}
    return {
        "allocations": [
            {"invoice_id": a.invoice_id, "invoice_number": numbers[a.invoice_id], "amount": to_json(a.amount)}
            for a in ledger.allocated.of_payment(payment.id)
        ],
        "unallocated": to_json(ledger.allocated.unallocated.get(payment.id, ZERO)),
    }


def credit_balance(conn: Connection, tenant_id: str, currency: str) -> Decimal:
    ledger = ledgers(conn, tenant_id=tenant_id, currency=currency).get((tenant_id, currency))
    return ledger.allocated.credit_balance if ledger else ZERO


REPORT_COLUMNS = ("tenant_id", "tenant_name", "currency", *rules.BUCKETS, "total_due", "credit_balance")


def report(conn: Connection, as_of: date) -> dict[str, Any]:
    """Receivables at the end of `as_of` (each tenant's local day): per tenant and currency what is due,
    in buckets of days past the due date, with the tenant's unallocated credit; and totals per currency."""
    # Documents dated before the end of the day in the tenant's zone: load through the latest zone
    # (UTC−12) and cut per tenant below.
    until = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=ZoneInfo("Etc/GMT+12"))
    names = store.tenant_names(conn)
    rows = []
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {**rules.empty_buckets(), "total_due": ZERO, "credit_balance": ZERO}
    )
    for (tenant_id, currency), ledger in sorted(ledgers(conn, until=until).items()):
        zone = ZoneInfo(ledger.timezone)
        end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=zone)
        ledger.invoices = [i for i in ledger.invoices if i.issued_at < end]
        ledger.payments = [p for p in ledger.payments if p.received_at < end]
        # credit notes: reload those dated before the tenant's own end of day
        ledger.credited = store.credited_before(conn, [i.id for i in ledger.invoices], end)
        ledger.allocate()
        buckets = rules.empty_buckets()
        for invoice in ledger.invoices:
            due = invoice.total - ledger.credited.get(invoice.id, ZERO) - ledger.allocated.paid(invoice.id)
            if due > 0:
                due_on = ledger.due_at[invoice.id].astimezone(zone).date()
                buckets[rules.bucket(rules.days_past_due(due_on, as_of))] += due
        total_due = sum(buckets.values(), ZERO)
        credit = ledger.allocated.credit_balance
        if total_due == 0 and credit == 0:
            continue
        rows.append(
            {
                "tenant_id": tenant_id,
                "tenant_name": names.get(tenant_id, tenant_id),
                "currency": currency,
                **{k: to_json(v) for k, v in buckets.items()},
                "total_due": to_json(total_due),
                "credit_balance": to_json(credit),
            }
        )
        sums = totals[currency]
        for k, v in buckets.items():
            sums[k] += v
        sums["total_due"] += total_due
        sums["credit_balance"] += credit
    return {
        "as_of": as_of.isoformat(),
        "buckets": list(rules.BUCKETS),
        "items": rows,
        "totals": [{"currency": c, **{k: to_json(v) for k, v in totals[c].items()}} for c in sorted(totals)],
    }


def report_rows(report_json: dict[str, Any]) -> list[list[Any]]:
    """The report as rows of REPORT_COLUMNS (each tenant and currency, then one TOTAL row per currency)."""
    rows = [[item[c] for c in REPORT_COLUMNS] for item in report_json["items"]]
    for total in report_json["totals"]:
        rows.append(["TOTAL", "合计 Total", total["currency"], *(total[c] for c in REPORT_COLUMNS[3:])])
    return rows
