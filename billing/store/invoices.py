"""Invoice rows: issued invoices and their lines as stored (SPEC §7, §8).

Issued invoices never change (a trigger refuses it); corrections are adjustment lines on later
invoices, or credit notes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.invoicing import InvoiceDraft
from billing.core.lines import ChargeLine
from billing.core.periods import Period, period_of


def insert_invoices(
    conn: Connection, invoices: list[tuple[str, str, InvoiceDraft, str, int]], issued_at: datetime
) -> None:
    """Store many numbered drafts ``(invoice_id, number, draft, timezone, close_seq)`` and their lines,
    in two batches."""
    if not invoices:
        return
    conn.execute(
        text("""INSERT INTO invoices (id, number, tenant_id, period, currency, issued_at, subtotal, tax, total,
                                      close_seq)
                VALUES (:id, :n, :t, :p, :c, :at, :sub, :tax, :total, :s)"""),
        [
            {
                "id": invoice_id,
                "n": number,
                "t": draft.tenant_id,
                "p": str(draft.period),
                "c": draft.currency,
                "at": issued_at,
                "sub": draft.subtotal,
                "tax": draft.tax,
                "total": draft.total,
                "s": close_seq,
            }
            for invoice_id, number, draft, _, close_seq in invoices
        ],
    )
    lines = [
        line_row(invoice_id, position, line, draft.period, tz)
        for invoice_id, _, draft, tz, _ in invoices
        for position, line in enumerate(draft.lines, 1)
    ]
    if lines:
        conn.execute(
            text("""INSERT INTO invoice_lines (invoice_id, position, kind, contract_id, item_id, description,
                        quantity, unit, unit_price, amount, tax_rate, tax, period_start, period_end, charged_period)
                    VALUES (:invoice_id, :position, :kind, :contract_id, :item_id, :description, :quantity, :unit,
                            :unit_price, :amount, :tax_rate, :tax, :period_start, :period_end, :charged_period)"""),
            lines,
        )


def charged_lines(conn: Connection, tenant_id: str, period: Period, before_seq: int | None) -> list[ChargeLine]:
    """Every line already invoiced for `period` (its invoice and later adjustments), issued by closes
    before `before_seq` (None: all)."""
    rows = conn.execute(
        text("""SELECT l.*, i.currency FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
                WHERE i.tenant_id = :t AND l.charged_period = :p AND i.close_seq < :b
                ORDER BY i.close_seq, l.position"""),
        {"t": tenant_id, "p": str(period), "b": before_seq if before_seq is not None else 2**62},
    ).all()
    return [line_from_row(row) for row in rows]


def line_from_row(row: Any) -> ChargeLine:
    return ChargeLine(
        kind=row.kind,
        contract_id=row.contract_id,
        item_id=row.item_id,
        description=row.description,
        quantity=row.quantity,
        unit=row.unit,
        unit_price=row.unit_price,
        amount=row.amount,
        tax_rate=row.tax_rate,
        tax=row.tax,
        period_start=row.period_start.astimezone(UTC),
        period_end=row.period_end.astimezone(UTC),
        currency=row.currency,
    )


def line_row(invoice_id: str, position: int, line: ChargeLine, period: Period, tz: str) -> dict[str, Any]:
    charged = period_of(line.period_start, tz) if line.kind == "adjustment" else period
    return {
        "invoice_id": invoice_id,
        "position": position,
        "kind": line.kind,
        "contract_id": line.contract_id,
        "item_id": line.item_id,
        "description": line.description,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price": line.unit_price,
        "amount": line.amount,
        "tax_rate": line.tax_rate,
        "tax": line.tax,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "charged_period": str(charged),
    }
