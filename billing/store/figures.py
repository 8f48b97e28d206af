"""Reads behind the month-so-far figures: money per currency over a window, what is outstanding,
and the adjustment lines that billed late usage (projections only; nothing is written)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_WINDOWED = {
    "issued": "SELECT currency, sum(total) AS amount, count(*) AS n FROM invoices "
    "WHERE issued_at >= :s AND issued_at < :e GROUP BY currency ORDER BY currency",
    "credited": "SELECT currency, sum(amount) AS amount, count(*) AS n FROM credit_notes "
    "WHERE issued_at >= :s AND issued_at < :e GROUP BY currency ORDER BY currency",
    "received": "SELECT currency, sum(amount) AS amount, count(*) AS n FROM payments "
    "WHERE received_at >= :s AND received_at < :e GROUP BY currency ORDER BY currency",
}


def per_currency(conn: Connection, kind: str, start: datetime, end: datetime) -> list[Any]:
    """Rows ``(currency, amount, n)`` of invoices issued, credit notes issued or payments received
    (``kind``: issued | credited | received) in ``[start, end)``."""
    return conn.execute(text(_WINDOWED[kind]), {"s": start, "e": end}).all()


def outstanding(conn: Connection) -> list[Any]:
    """Rows ``(currency, amount, n)``: what tenants owe (positive balances), and how many owe it."""
    return conn.execute(
        text("""SELECT currency, sum(invoiced - credited - paid) AS amount, count(*) AS n
        FROM balances WHERE invoiced - credited - paid > 0 GROUP BY currency ORDER BY currency""")
    ).all()


def adjustment_lines(conn: Connection, tenant_id: str | None, limit: int) -> list[Any]:
    """The ``adjustment`` lines of issued invoices with their invoice, newest first."""
    return conn.execute(
        text("""
        SELECT i.id AS invoice_id, i.number, i.tenant_id, i.period AS invoiced_in, i.currency, i.issued_at,
               l.charged_period, l.contract_id, l.item_id, l.description, l.amount
        FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
        WHERE l.kind = 'adjustment' AND (CAST(:t AS text) IS NULL OR i.tenant_id = :t)
        ORDER BY i.issued_at DESC, i.number DESC, l.position LIMIT :l"""),
        {"t": tenant_id, "l": limit},
    ).all()
