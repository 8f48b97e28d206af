"""Reading the documents receivables are derived from: invoices with their stored due dates, credit
notes and payments of a tenant and currency, dated before an instant (SPEC §12). Read only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

_INVOICES = """
    SELECT i.id, i.number, i.tenant_id, i.currency, i.issued_at, i.total, i.period, t.timezone,
           p.due_at, coalesce(tp.payment_terms_days, 30) AS terms
      FROM invoices i JOIN tenants t ON t.id = i.tenant_id
      LEFT JOIN invoice_parties p ON p.invoice_id = i.id
      LEFT JOIN tenant_profiles tp ON tp.tenant_id = i.tenant_id
     WHERE (CAST(:t AS text[]) IS NULL OR i.tenant_id = ANY(:t)) AND (CAST(:c AS text) IS NULL OR i.currency = :c)
       AND (CAST(:until AS timestamptz) IS NULL OR i.issued_at < :until)
"""
_CREDITED = """
    SELECT invoice_id, sum(amount) AS amount FROM credit_notes
     WHERE (CAST(:t AS text[]) IS NULL OR tenant_id = ANY(:t)) AND (CAST(:c AS text) IS NULL OR currency = :c)
       AND (CAST(:until AS timestamptz) IS NULL OR issued_at < :until)
     GROUP BY invoice_id
"""
_PAYMENTS = """
    SELECT p.id, p.tenant_id, p.currency, p.amount, p.invoice_id, p.reference, p.received_at, p.recorded_at,
           t.timezone
      FROM payments p JOIN tenants t ON t.id = p.tenant_id
     WHERE (CAST(:t AS text[]) IS NULL OR p.tenant_id = ANY(:t)) AND (CAST(:c AS text) IS NULL OR p.currency = :c)
       AND (CAST(:until AS timestamptz) IS NULL OR p.received_at < :until)
     ORDER BY p.recorded_at, p.id
"""


Tenants = list[str] | None
"""The tenants whose documents are read; None: every tenant."""


def _params(tenant_ids: Tenants, currency: str | None, until: datetime | None) -> dict[str, Any]:
    return {"t": None if tenant_ids is None else list(tenant_ids), "c": currency, "until": until}


def invoice_rows(conn: Connection, *, tenant_ids: Tenants, currency: str | None, until: datetime | None) -> list:
    """Invoices (id, number, tenant_id, currency, issued_at, total, period, timezone, due_at or None, terms)."""
    return conn.execute(text(_INVOICES), _params(tenant_ids, currency, until)).all()


def credited(
    conn: Connection, *, tenant_ids: Tenants, currency: str | None, until: datetime | None
) -> dict[str, Decimal]:
    """Σ credit notes per invoice id."""
    return {r.invoice_id: r.amount for r in conn.execute(text(_CREDITED), _params(tenant_ids, currency, until))}


def payment_rows(conn: Connection, *, tenant_ids: Tenants, currency: str | None, until: datetime | None) -> list:
    """Payments received before `until`, in recording order (recorded_at, id)."""
    return conn.execute(text(_PAYMENTS), _params(tenant_ids, currency, until)).all()


def credited_before(conn: Connection, invoice_ids: list[str], end: datetime) -> dict[str, Decimal]:
    """Σ credit notes per invoice of `invoice_ids` issued before `end`."""
    if not invoice_ids:
        return {}
    rows = conn.execute(
        text("""SELECT invoice_id, sum(amount) AS amount FROM credit_notes
                                WHERE invoice_id = ANY(:ids) AND issued_at < :e GROUP BY invoice_id"""),
        {"ids": invoice_ids, "e": end},
    ).all()
    return {r.invoice_id: r.amount for r in rows}


def tenant_names(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT id, name FROM tenants")).all())
