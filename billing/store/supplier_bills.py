"""Supplier bill rows (SPEC §17): ``supplier_period_closes``, ``supplier_bills``, ``supplier_bill_lines``.

Issued like invoices and immutable like them (a trigger refuses UPDATE, DELETE, TRUNCATE). A close
record keeps the contract versions the bills were assembled from, so replay reproduces them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.invoicing import InvoiceDraft
from billing.core.periods import Period
from billing.store.invoices import line_row


def closed_bill_ids(conn: Connection, supplier_id: str, period: Period) -> list[str] | None:
    ids = conn.execute(
        text("SELECT bill_ids FROM supplier_period_closes WHERE supplier_id = :s AND period = :p"),
        {"s": supplier_id, "p": str(period)},
    ).scalar()
    return None if ids is None else list(ids)


def closed_periods(conn: Connection, supplier_id: str) -> list[Period]:
    rows = conn.execute(
        text("SELECT period FROM supplier_period_closes WHERE supplier_id = :s ORDER BY period"), {"s": supplier_id}
    ).scalars()
    return [Period.parse(p) for p in rows]


def closed_pairs(conn: Connection) -> set[tuple[str, str]]:
    """Every (supplier, period) closed."""
    rows = conn.execute(text("SELECT supplier_id, period FROM supplier_period_closes"))
    return {(row.supplier_id, row.period) for row in rows}


def next_close_seq(conn: Connection) -> int:
    return conn.execute(
        text("SELECT nextval(pg_get_serial_sequence('supplier_period_closes', 'close_seq'))")
    ).scalar_one()


def record_close(
    conn: Connection,
    supplier_id: str,
    period: Period,
    close_seq: int,
    closed_at: datetime,
    inputs: dict[str, Any],
    bill_ids: list[str],
) -> None:
    conn.execute(
        text("""INSERT INTO supplier_period_closes (supplier_id, period, close_seq, closed_at, inputs, bill_ids)
                VALUES (:s, :p, :q, :at, CAST(:i AS jsonb), CAST(:ids AS jsonb))"""),
        {
            "s": supplier_id,
            "p": str(period),
            "q": close_seq,
            "at": closed_at,
            "i": json.dumps(inputs, sort_keys=True),
            "ids": json.dumps(bill_ids),
        },
    )


def closes(conn: Connection) -> list[Any]:
    """Every supplier close, in close order (supplier_id, period, close_seq, inputs)."""
    return conn.execute(text("SELECT * FROM supplier_period_closes ORDER BY close_seq")).all()


def bill_lines_row(bill_id: str, position: int, line, period: Period, tz: str) -> dict[str, Any]:
    """A line as stored: the invoice line's columns, keyed by its bill."""
    row = line_row(bill_id, position, line, period, tz)
    row["bill_id"] = row.pop("invoice_id")
    return row


def insert_bill(
    conn: Connection,
    bill_id: str,
    number: str,
    supplier_id: str,
    draft: InvoiceDraft,
    tz: str,
    close_seq: int,
    issued_at: datetime,
) -> None:
    """Store one numbered draft and its lines, in order."""
    conn.execute(
        text("""INSERT INTO supplier_bills (id, number, supplier_id, period, currency, issued_at, subtotal, tax,
                                            total, close_seq)
                VALUES (:id, :n, :s, :p, :c, :at, :sub, :tax, :total, :q)"""),
        {
            "id": bill_id,
            "n": number,
            "s": supplier_id,
            "p": str(draft.period),
            "c": draft.currency,
            "at": issued_at,
            "sub": draft.subtotal,
            "tax": draft.tax,
            "total": draft.total,
            "q": close_seq,
        },
    )
    if draft.lines:
        conn.execute(
            text("""INSERT INTO supplier_bill_lines (bill_id, position, kind, contract_id, item_id, description,
                        quantity, unit, unit_price, amount, tax_rate, tax, period_start, period_end, charged_period)
                    VALUES (:bill_id, :position, :kind, :contract_id, :item_id, :description, :quantity, :unit,
                            :unit_price, :amount, :tax_rate, :tax, :period_start, :period_end, :charged_period)"""),
            [bill_lines_row(bill_id, n, line, draft.period, tz) for n, line in enumerate(draft.lines, 1)],
        )


def bill(conn: Connection, bill_id: str) -> Any | None:
    return conn.execute(text("SELECT * FROM supplier_bills WHERE id = :id"), {"id": bill_id}).first()


def bills(conn: Connection, *, supplier_id: str | None, period: str | None, after: str | None, limit: int) -> list[Any]:
    """Bills by number, filtered by supplier and period, after the number `after`."""
    return conn.execute(
        text("""SELECT * FROM supplier_bills
                WHERE (CAST(:s AS text) IS NULL OR supplier_id = :s) AND (CAST(:p AS text) IS NULL OR period = :p)
                  AND (CAST(:a AS text) IS NULL OR number > :a)
                ORDER BY number LIMIT :l"""),
        {"s": supplier_id, "p": period, "a": after, "l": limit},
    ).all()


def bills_upto(conn: Connection, supplier_id: str, period: Period) -> list[Any]:
    """The supplier's bills of `period` and before, by number."""
    return conn.execute(
        text("SELECT * FROM supplier_bills WHERE supplier_id = :s AND period <= :p ORDER BY number"),
        {"s": supplier_id, "p": str(period)},
    ).all()


def bills_of_close(conn: Connection, close_seq: int) -> list[Any]:
    return conn.execute(text("SELECT * FROM supplier_bills WHERE close_seq = :q"), {"q": close_seq}).all()


def lines_of(conn: Connection, bill_ids: list[str]) -> list[Any]:
    """The lines of `bill_ids` with their bill's currency, by bill and position."""
    if not bill_ids:
        return []
    return conn.execute(
        text("""SELECT l.*, b.currency FROM supplier_bill_lines l JOIN supplier_bills b ON b.id = l.bill_id
                WHERE l.bill_id = ANY(:ids) ORDER BY l.bill_id, l.position"""),
        {"ids": bill_ids},
    ).all()


EXPORT_COLUMNS = (
    "bill_number",
    "bill_period",
    "issued_on",
    "supplier_id",
    "supplier_name",
    "contract_id",
    "item_id",
    "kind",
    "description",
    "line_period",
    "period_start",
    "period_end",
    "timezone",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "tax_rate",
    "tax",
    "total",
    "currency",
)
_EXPORT = """
    SELECT b.number, b.period, (b.issued_at AT TIME ZONE s.timezone)::date, b.supplier_id, s.name,
           l.contract_id, coalesce(l.item_id, ''), l.kind, l.description, l.charged_period,
           l.period_start AT TIME ZONE s.timezone, l.period_end AT TIME ZONE s.timezone, s.timezone,
           l.quantity, l.unit, l.unit_price, l.amount, l.tax_rate, l.tax, l.amount + l.tax, b.currency
      FROM supplier_bills b
      JOIN supplier_bill_lines l ON l.bill_id = b.id
      JOIN suppliers s ON s.id = b.supplier_id
     WHERE b.period = :p
     ORDER BY b.number, l.position
"""


def export_lines(conn: Connection, period: Period) -> Iterator[tuple]:
    """Every supplier-bill line of `period`, in EXPORT_COLUMNS order, by bill number and position, streamed."""
    result = conn.execution_options(stream_results=True, yield_per=5_000).execute(text(_EXPORT), {"p": str(period)})
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()
