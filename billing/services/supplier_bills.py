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

import json
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
from billing.store.contract_streams import contract_states
from billing.store.invoices import line_from_row, line_row
from kashi.errors import Conflict, NotFound, ValidationFailed


def lock_key(supplier_id: str) -> int:
    return close_lock_key(f"supplier:{supplier_id}")


def supplier_zone(conn: Connection, supplier_id: str) -> str:
    tz = conn.execute(text("SELECT timezone FROM suppliers WHERE id = :s"), {"s": supplier_id}).scalar()
    if tz is None:
        raise NotFound(f"supplier {supplier_id} not found", [{"field": "supplier_id", "reason": "not found"}])
    return tz


def assemble(conn: Connection, supplier_id: str, period: Period, tz: str,
             contract_versions: dict[str, int] | None = None) -> tuple[list[InvoiceDraft], dict[str, Any]]:  # fmt: skip
    """The drafts of closing `period` for the supplier, and the inputs that reproduce them."""
    states = contract_states(conn, supplier_id, contract_versions, party="supplier_id")
    drafts = assemble_invoices(supplier_id, period, tz, states)
    return drafts, {"contract_versions": {s.id: s.version for s in states}, "timezone": tz}


def close_supplier(engine: Engine, supplier_id: str, period: Period, *, now: datetime | None = None) -> list[str]:
    """Close `period` for `supplier_id`: its bill ids (the same when repeated). Conflict before period end."""
    now = now or utc_now()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(supplier_id)})
        done = conn.execute(text("SELECT bill_ids FROM supplier_period_closes WHERE supplier_id = :s AND period = :p"),
                            {"s": supplier_id, "p": str(period)}).scalar()  # fmt: skip
        if done is not None:
            return list(done)
        tz = supplier_zone(conn, supplier_id)
        if now < period.end(tz):
            raise Conflict(f"period {period} has not ended for supplier {supplier_id} ({tz})",
                           [{"field": "period", "reason": f"ends at {instant_to_json(period.end(tz))}"}])
        drafts, inputs = assemble(conn, supplier_id, period, tz)
        close_seq = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence('supplier_period_closes', 'close_seq'))")).scalar_one()
        ids = [_issue(conn, supplier_id, draft, tz, close_seq, now) for draft in drafts]
        conn.execute(
            text("""INSERT INTO supplier_period_closes (supplier_id, period, close_seq, closed_at, inputs, bill_ids)
                    VALUES (:s, :p, :q, :at, CAST(:i AS jsonb), CAST(:ids AS jsonb))"""),
            {"s": supplier_id, "p": str(period), "q": close_seq, "at": now, "i": json.dumps(inputs, sort_keys=True),
             "ids": json.dumps(ids)},
        )  # fmt: skip
        return ids


def close_suppliers(engine: Engine, period: Period, *, now: datetime | None = None) -> list[str]:
    """Close `period` for every supplier whose month has ended at `now`; all their bill ids."""
    now = now or utc_now()
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id, timezone FROM suppliers ORDER BY id")).all()
    ids: list[str] = []
    for supplier_id, tz in found:
        if now >= period.end(tz):
            ids.extend(close_supplier(engine, supplier_id, period, now=now))
    return ids


def due_suppliers(conn: Connection, now: datetime, grace, period_due) -> list[tuple[str, Period]]:
    """(supplier, period) pairs the scheduler should close at `now`, by the tenants' rule (`period_due`)."""
    closed = {(r.supplier_id, r.period) for r in conn.execute(
        text("SELECT supplier_id, period FROM supplier_period_closes"))}  # fmt: skip
    due = []
    for supplier_id, tz in conn.execute(text("SELECT id, timezone FROM suppliers ORDER BY id")).all():
        period = period_due(now, tz, grace)
        if period is not None and (supplier_id, str(period)) not in closed:
            due.append((supplier_id, period))
    return due


def _issue(conn: Connection, supplier_id: str, draft: InvoiceDraft, tz: str, close_seq: int,
           issued_at: datetime) -> str:  # fmt: skip
    bill_id = f"sb_{uuid.uuid4().hex[:20]}"
    number = numbering.allocate(conn, numbering.SUPPLIER_BILL_SERIES, draft.currency, issued_at)
    conn.execute(
        text("""INSERT INTO supplier_bills (id, number, supplier_id, period, currency, issued_at, subtotal, tax,
                                            total, close_seq)
                VALUES (:id, :n, :s, :p, :c, :at, :sub, :tax, :total, :q)"""),
        {"id": bill_id, "n": number, "s": supplier_id, "p": str(draft.period), "c": draft.currency,
         "at": issued_at, "sub": draft.subtotal, "tax": draft.tax, "total": draft.total, "q": close_seq},
    )  # fmt: skip
    if draft.lines:
        rows = []
        for position, line in enumerate(draft.lines, 1):
            row = line_row(bill_id, position, line, draft.period, tz)
            row["bill_id"] = row.pop("invoice_id")
            rows.append(row)
        conn.execute(
            text("""INSERT INTO supplier_bill_lines (bill_id, position, kind, contract_id, item_id, description,
                        quantity, unit, unit_price, amount, tax_rate, tax, period_start, period_end, charged_period)
                    VALUES (:bill_id, :position, :kind, :contract_id, :item_id, :description, :quantity, :unit,
                            :unit_price, :amount, :tax_rate, :tax, :period_start, :period_end, :charged_period)"""),
            rows,
        )
    return bill_id


# --- reading ----------------------------------------------------------------------------------------


def bills_json(conn: Connection, rows: list) -> list[dict[str, Any]]:
    """Invoice JSON of each bill row plus its `supplier_id` (and `tenant_id` null: no tenant is billed)."""
    lines: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for line in conn.execute(
            text("""SELECT l.*, b.currency FROM supplier_bill_lines l JOIN supplier_bills b ON b.id = l.bill_id
                    WHERE l.bill_id = ANY(:ids) ORDER BY l.bill_id, l.position"""),
            {"ids": list(lines)},
        ):
            lines[line.bill_id].append(line_from_row(line).to_json())
    return [
        {"id": row.id, "number": row.number, "tenant_id": None, "supplier_id": row.supplier_id,
         "period": row.period, "currency": row.currency, "issued_at": instant_to_json(row.issued_at),
         "lines": lines[row.id], "subtotal": to_json(row.subtotal), "tax": to_json(row.tax),
         "total": to_json(row.total)}
        for row in rows
    ]  # fmt: skip


def bill_json(conn: Connection, bill_id: str) -> dict[str, Any]:
    row = conn.execute(text("SELECT * FROM supplier_bills WHERE id = :id"), {"id": bill_id}).first()
    if row is None:
        raise NotFound(f"supplier bill {bill_id} not found", [{"field": "bill_id", "reason": "not found"}])
    return bills_json(conn, [row])[0]


def list_bills(conn: Connection, *, supplier_id: str | None, period: str | None, after: str | None,
               limit: int = 100) -> dict[str, Any]:  # fmt: skip
    """``{"items", "next_cursor"}`` by number; the cursor is the last number seen."""
    if period is not None:
        Period.parse(period)
    if after is not None:
        try:
            numbering.parse_number(after)
        except ValueError:
            raise ValidationFailed.of("cursor", f"{after!r} is not a cursor of this listing") from None
    rows = conn.execute(
        text("""SELECT * FROM supplier_bills
                WHERE (CAST(:s AS text) IS NULL OR supplier_id = :s) AND (CAST(:p AS text) IS NULL OR period = :p)
                  AND (CAST(:a AS text) IS NULL OR number > :a)
                ORDER BY number LIMIT :l"""),
        {"s": supplier_id, "p": period, "a": after, "l": limit},
    ).all()
    items = bills_json(conn, rows)
    return {"items": items, "next_cursor": items[-1]["number"] if len(items) == limit else None}


def statement_json(conn: Connection, supplier_id: str, period: Period) -> dict[str, Any]:
    """What we owe a supplier by month: per currency the opening balance (bills of earlier periods),
    the bills of `period`, and the closing balance. Payments to suppliers are not recorded in Kashi,
    so the balances are what has been billed to us."""
    supplier = suppliers.get(conn, supplier_id)
    rows = conn.execute(text("SELECT * FROM supplier_bills WHERE supplier_id = :s AND period <= :p ORDER BY number"),
                        {"s": supplier_id, "p": str(period)}).all()  # fmt: skip
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
        pages.append({"currency": currency, "opening_balance": to_json(opening[currency]),
                      "bills": [b for b in bills if b["currency"] == currency], "billed": to_json(billed),
                      "closing_balance": to_json(opening[currency] + billed)})  # fmt: skip
    return {"supplier_id": supplier_id, "supplier": supplier, "period": str(period), "currencies": pages}


# --- replay -----------------------------------------------------------------------------------------


def verify_bills(conn: Connection) -> list[str]:
    """Re-assemble every supplier close from its stored inputs and compare with its stored bills."""
    differences: list[str] = []
    for close in conn.execute(text("SELECT * FROM supplier_period_closes ORDER BY close_seq")).all():
        tz = close.inputs["timezone"]
        drafts, _ = assemble(conn, close.supplier_id, Period.parse(close.period), tz,
                             close.inputs["contract_versions"])  # fmt: skip
        stored = {row.currency: row for row in conn.execute(
            text("SELECT * FROM supplier_bills WHERE close_seq = :q"), {"q": close.close_seq})}  # fmt: skip
        replayed = {draft.currency: draft for draft in drafts}
        for currency in sorted(set(stored) | set(replayed)):
            bill, draft = stored.get(currency), replayed.get(currency)
            label = f"supplier bill {close.supplier_id} {close.period} {currency}"
            if bill is None or draft is None:
                differences.append(f"{label}: {'stored' if bill else 'replayed'} only")
                continue
            for field in ("subtotal", "tax", "total"):
                if getattr(bill, field) != getattr(draft, field):
                    differences.append(f"{label}: {field} stored {getattr(bill, field)} replayed "
                                       f"{getattr(draft, field)}")  # fmt: skip
            lines = conn.execute(text("SELECT * FROM supplier_bill_lines WHERE bill_id = :b ORDER BY position"),
                                 {"b": bill.id}).mappings().all()  # fmt: skip
            again = [line_row(bill.id, n, line, draft.period, tz) for n, line in enumerate(draft.lines, 1)]
            if len(lines) != len(again):
                differences.append(f"{label}: {len(lines)} lines stored, {len(again)} replayed")
            for row, line in zip(lines, again, strict=False):
                for key, value in line.items():
                    if key != "invoice_id" and row[key] != value:
                        differences.append(f"{label} line {row['position']} {key}: stored {row[key]!r} "
                                           f"replayed {value!r}")  # fmt: skip
    return differences
