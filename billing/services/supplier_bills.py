"""Service: close a period for a supplier and issue its bills (SPEC §17), and read them back.

A supplier bill is what a supplier is owed for the capacity a broker bought under payable contracts:
the same pure assembly as a tenant's invoice (`billing.core.invoicing.assemble_invoices` over the
supplier's contracts: capacity charges, penalties and notice of terminations in the period), one bill
per currency, numbered gaplessly in the "KP" series (`KP-2026-000001`), apart from the KS- invoices.
One transaction per supplier under its own advisory lock; a second close answers the same ids.
`supplier_period_closes.inputs` keeps the contract versions, so `kashi replay --verify` re-assembles
every bill exactly. Payable contracts carry no metered usage: there are no adjustments.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.invoicing import InvoiceDraft, assemble_invoices
from billing.core.money import to_json
from billing.core.periods import Period, instant_to_json
from billing.services import suppliers
from billing.services.close import close_lock_key, utc_now
from billing.store import numbering
from billing.store import supplier_bills as store
from billing.store import suppliers as supplier_rows
from billing.store.contract_streams import contract_states
from billing.store.invoices import line_from_row
from kashi.errors import Conflict, NotFound, ValidationFailed


def lock_key(supplier_id: str) -> int:
    return close_lock_key(f"supplier:{supplier_id}")


def supplier_zone(conn: Connection, supplier_id: str) -> str:
    """The supplier's timezone; NotFound for an unknown supplier."""
    return supplier_rows.read(conn, supplier_id).timezone


def assemble(
    conn: Connection, supplier_id: str, period: Period, tz: str, contract_versions: dict[str, int] | None = None
) -> tuple[list[InvoiceDraft], dict[str, Any]]:
    """The drafts of closing `period` for the supplier, and the inputs that reproduce them."""
    states = contract_states(conn, supplier_id, contract_versions, party="supplier_id")
    drafts = assemble_invoices(supplier_id, period, tz, states)
    return drafts, {"contract_versions": {s.id: s.version for s in states}, "timezone": tz}


def close_supplier(engine: Engine, supplier_id: str, period: Period, *, now: datetime | None = None) -> list[str]:
    """Close `period` for `supplier_id`: its bill ids (the same when repeated). Conflict before period end."""
    now = now or utc_now()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(supplier_id)})
        done = store.closed_bill_ids(conn, supplier_id, period)
        if done is not None:
            return done
        tz = supplier_zone(conn, supplier_id)
        if now < period.end(tz):
            raise Conflict(
                f"period {period} has not ended for supplier {supplier_id} ({tz})",
                [{"field": "period", "reason": f"ends at {instant_to_json(period.end(tz))}"}],
            )
        drafts, inputs = assemble(conn, supplier_id, period, tz)
        close_seq = store.next_close_seq(conn)
        ids = [_issue(conn, supplier_id, draft, tz, close_seq, now) for draft in drafts]
        store.record_close(conn, supplier_id, period, close_seq, now, inputs, ids)
        return ids


def close_suppliers(engine: Engine, period: Period, *, now: datetime | None = None) -> list[str]:
    """Close `period` for every supplier whose month has ended at `now`; all their bill ids."""
    now = now or utc_now()
    with engine.connect() as conn:
        found = supplier_rows.zones(conn)
    ids: list[str] = []
    for supplier_id, tz in found:
        if now >= period.end(tz):
            ids.extend(close_supplier(engine, supplier_id, period, now=now))
    return ids


def due_suppliers(conn: Connection, now: datetime, grace, period_due) -> list[tuple[str, Period]]:
    """(supplier, period) pairs the scheduler should close at `now`, by the tenants' rule (`period_due`)."""
    closed = store.closed_pairs(conn)
    due = []
    for supplier_id, tz in supplier_rows.zones(conn):
        period = period_due(now, tz, grace)
        if period is not None and (supplier_id, str(period)) not in closed:
            due.append((supplier_id, period))
    return due


def _issue(
    conn: Connection, supplier_id: str, draft: InvoiceDraft, tz: str, close_seq: int, issued_at: datetime
) -> str:
    bill_id = f"sb_{uuid.uuid4().hex[:20]}"
    number = numbering.allocate(conn, numbering.SUPPLIER_BILL_SERIES, draft.currency, issued_at)
    store.insert_bill(conn, bill_id, number, supplier_id, draft, tz, close_seq, issued_at)
    return bill_id


# --- reading ----------------------------------------------------------------------------------------


def bills_json(conn: Connection, rows: list) -> list[dict[str, Any]]:
    """Invoice JSON of each bill row plus its `supplier_id` (and `tenant_id` null: no tenant is billed)."""
    lines: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for line in store.lines_of(conn, list(lines)):
        lines[line.bill_id].append(line_from_row(line).to_json())
    return [
        {
            "id": row.id,
            "number": row.number,
            "tenant_id": None,
            "supplier_id": row.supplier_id,
            "period": row.period,
            "currency": row.currency,
            "issued_at": instant_to_json(row.issued_at),
            "lines": lines[row.id],
            "subtotal": to_json(row.subtotal),
            "tax": to_json(row.tax),
            "total": to_json(row.total),
        }
        for row in rows
    ]


def bill_json(conn: Connection, bill_id: str) -> dict[str, Any]:
    row = store.bill(conn, bill_id)
    if row is None:
        raise NotFound(f"supplier bill {bill_id} not found", [{"field": "bill_id", "reason": "not found"}])
    return bills_json(conn, [row])[0]


def list_bills(
    conn: Connection, *, supplier_id: str | None, period: str | None, after: str | None, limit: int = 100
) -> dict[str, Any]:
    """``{"items", "next_cursor"}`` by number; the cursor is the last number seen."""
    if period is not None:
        Period.parse(period)
    if after is not None:
        try:
            numbering.parse_number(after)
        except ValueError:
            raise ValidationFailed.of("cursor", f"{after!r} is not a cursor of this listing") from None
    rows = store.bills(conn, supplier_id=supplier_id, period=period, after=after, limit=limit)
    items = bills_json(conn, rows)
    return {"items": items, "next_cursor": items[-1]["number"] if len(items) == limit else None}


def statement_json(conn: Connection, supplier_id: str, period: Period) -> dict[str, Any]:
    """What we owe a supplier by month: per currency the opening balance (bills of earlier periods),
    the bills of `period`, and the closing balance. Payments to suppliers are not recorded in Kashi,
    so the balances are what has been billed to us."""
    supplier = suppliers.get(conn, supplier_id)
    rows = store.bills_upto(conn, supplier_id, period)
    opening: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    current = []
    for row in rows:
        if row.period < str(period):
            opening[row.currency] += row.total
        else:
            current.append(row)
    bills = bills_json(conn, current)
    currencies = sorted(set(opening) | {bill["currency"] for bill in bills}) or [supplier["currency"]]
    pages = []
    for currency in currencies:
        billed = sum((Decimal(b["total"]) for b in bills if b["currency"] == currency), Decimal("0.00"))
        pages.append(
            {
                "currency": currency,
                "opening_balance": to_json(opening[currency]),
                "bills": [b for b in bills if b["currency"] == currency],
                "billed": to_json(billed),
                "closing_balance": to_json(opening[currency] + billed),
            }
        )
    return {"supplier_id": supplier_id, "supplier": supplier, "period": str(period), "currencies": pages}


# --- replay -----------------------------------------------------------------------------------------


def verify_bills(conn: Connection) -> list[str]:
    """Re-assemble every supplier close from its stored inputs and compare with its stored bills."""
    differences: list[str] = []
    for close in store.closes(conn):
        tz = close.inputs["timezone"]
        drafts, _ = assemble(conn, close.supplier_id, Period.parse(close.period), tz, close.inputs["contract_versions"])
        stored = {row.currency: row for row in store.bills_of_close(conn, close.close_seq)}
        replayed = {draft.currency: draft for draft in drafts}
        for currency in sorted(set(stored) | set(replayed)):
            bill, draft = stored.get(currency), replayed.get(currency)
            label = f"supplier bill {close.supplier_id} {close.period} {currency}"
            if bill is None or draft is None:
                differences.append(f"{label}: {'stored' if bill else 'replayed'} only")
                continue
            for field in ("subtotal", "tax", "total"):
                if getattr(bill, field) != getattr(draft, field):
                    differences.append(
                        f"{label}: {field} stored {getattr(bill, field)} replayed {getattr(draft, field)}"
                    )
            lines = [row._mapping for row in store.lines_of(conn, [bill.id])]
            again = [store.bill_lines_row(bill.id, n, line, draft.period, tz) for n, line in enumerate(draft.lines, 1)]
            if len(lines) != len(again):
                differences.append(f"{label}: {len(lines)} lines stored, {len(again)} replayed")
            for row, line in zip(lines, again, strict=False):
                for key, value in line.items():
                    if row[key] != value:
                        differences.append(
                            f"{label} line {row['position']} {key}: stored {row[key]!r} replayed {value!r}"
                        )
    return differences


EXPORT_COLUMNS = store.EXPORT_COLUMNS


def export_lines(conn: Connection, period: Period):
    """The export of every supplier-bill line of `period`, all suppliers, with tax, streamed (rows in
    EXPORT_COLUMNS order: local wall times in the supplier's timezone)."""
    return store.export_lines(conn, period)
