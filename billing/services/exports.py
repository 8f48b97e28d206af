"""Service: the finance export of every invoice line of a month, all tenants (SPEC §8).

Rows stream from a server-side cursor (`stream_results` with `yield_per`), so a month of a million
lines is never held in memory: the documents in `billing.documents` write each row as it comes.
The month is the invoices' billing period (`invoices.period`); an adjustment line carries the
earlier period it corrects in `line_period`. Line bounds are local wall times in the tenant's
timezone (given in `timezone`), which is how the tenant's own books date them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, text

from billing.core.export_columns import INVOICE_LINE_COLUMNS, Column, Row  # noqa: F401 (the export's shape)
from billing.core.periods import Period

YIELD_PER = 5_000
"""Rows fetched from the server-side cursor per round trip."""


_LINES = """
    SELECT i.number, i.period, (i.issued_at AT TIME ZONE t.timezone)::date, i.tenant_id, t.name,
           l.contract_id, coalesce(l.item_id, ''), l.kind, l.description, l.charged_period,
           l.period_start AT TIME ZONE t.timezone, l.period_end AT TIME ZONE t.timezone, t.timezone,
           l.quantity, l.unit, l.unit_price, l.amount, l.tax_rate, l.tax, l.amount + l.tax, i.currency,
           coalesce((SELECT string_agg(f.number, ' ' ORDER BY f.issued_on, f.number) FROM fapiao f
                      WHERE f.invoice_id = i.id), ''),
           (p.due_at AT TIME ZONE t.timezone)::date
      FROM invoices i
      JOIN invoice_lines l ON l.invoice_id = i.id
      JOIN tenants t ON t.id = i.tenant_id
      LEFT JOIN invoice_parties p ON p.invoice_id = i.id
     WHERE i.period = :p
     ORDER BY i.number, l.position
"""


def count_invoice_lines(conn: Connection, period: Period) -> int:
    """How many lines the export of `period` has (for a progress bar)."""
    return conn.execute(
        text("SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.period = :p"),
        {"p": str(period)},
    ).scalar_one()


def invoice_lines(conn: Connection, period: Period, *, yield_per: int = YIELD_PER) -> Iterator[Row]:
    """Every invoice line of `period`, all tenants, by invoice number and position, streamed."""
    result = conn.execution_options(stream_results=True, yield_per=yield_per).execute(text(_LINES), {"p": str(period)})
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()
