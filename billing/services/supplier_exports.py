"""Service: the export of every supplier-bill line of a month, all suppliers (SPEC §17), like the
invoice-line export: one row per line with tax, local wall times in the supplier's timezone."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, text

from billing.core.periods import Period

COLUMNS = ("bill_number", "bill_period", "issued_on", "supplier_id", "supplier_name", "contract_id", "item_id",
           "kind", "description", "line_period", "period_start", "period_end", "timezone", "quantity", "unit",
           "unit_price", "amount", "tax_rate", "tax", "total", "currency")  # fmt: skip
MONEY = ("amount", "tax", "total")

_LINES = """
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


def bill_lines(conn: Connection, period: Period) -> Iterator[tuple]:
    """Every supplier-bill line of `period`, by bill number and position, streamed."""
    result = conn.execution_options(stream_results=True, yield_per=5_000).execute(text(_LINES), {"p": str(period)})
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()
