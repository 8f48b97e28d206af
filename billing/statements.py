"""Service: a tenant's statement of account for a month, as JSON (SPEC §8).

Loads the balance before the month (summed in SQL, so years of history cost one row per currency)
and the month's invoices, credit notes and payments, then lets `billing.statement` fold them. The
month is the tenant's billing period: `[start, end)` in its timezone (SPEC §2).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from billing import tenants
from billing.errors import ValidationFailed
from billing.money import to_json
from billing.periods import Period, instant_to_json
from billing.statement import CurrencyStatement, Document, assemble

_STATEMENT = """
    SELECT 'opening' AS kind, CAST(NULL AS timestamptz) AS at, '' AS number, currency, sum(amount) AS amount,
           '' AS about, '' AS refers_to
      FROM (SELECT currency, total AS amount FROM invoices WHERE tenant_id = :t AND issued_at < :start
            UNION ALL SELECT currency, -amount FROM credit_notes WHERE tenant_id = :t AND issued_at < :start
            UNION ALL SELECT currency, -amount FROM payments WHERE tenant_id = :t AND received_at < :start) moves
     GROUP BY currency
    UNION ALL
    SELECT 'invoice', issued_at, number, currency, total, period, ''
      FROM invoices WHERE tenant_id = :t AND issued_at >= :start AND issued_at < :end
    UNION ALL
    SELECT 'credit_note', n.issued_at, n.number, n.currency, n.amount, n.reason, i.number
      FROM credit_notes n JOIN invoices i ON i.id = n.invoice_id
     WHERE n.tenant_id = :t AND n.issued_at >= :start AND n.issued_at < :end
    UNION ALL
    SELECT 'payment', received_at, reference, currency, amount, '', ''
      FROM payments WHERE tenant_id = :t AND received_at >= :start AND received_at < :end
"""
"""The balance per currency before the month ('opening' rows) and the month's documents. One
statement, so one snapshot: a payment recorded meanwhile is either in both or in neither."""


def _description(kind: str, about: str, refers_to: str) -> str:
    if kind == "invoice":
        return f"账单 Invoice for {about}"
    if kind == "credit_note":
        return f"红字 Credit note on {refers_to}: {about}"
    return "收款 Payment received"


def load(conn: Connection, tenant_id: str, period: Period) -> tuple[dict, dict[str, Decimal], list[Document]]:
    """(tenant, opening balance per currency, the month's documents); NotFound for an unknown tenant."""
    tenant = tenants.get(conn, tenant_id)
    bounds = {"t": tenant_id, "start": period.start(tenant["timezone"]), "end": period.end(tenant["timezone"])}
    opening: dict[str, Decimal] = {}
    documents: list[Document] = []
    for r in conn.execute(text(_STATEMENT), bounds):
        if r.kind == "opening":
            opening[r.currency] = r.amount
        else:
            description = _description(r.kind, r.about, r.refers_to)
            documents.append(Document(r.kind, r.at, r.number, r.currency, r.amount, description, r.refers_to))
    return tenant, opening, documents


def statement_json(conn: Connection, tenant_id: str, period: Period) -> dict[str, Any]:
    """The statement of `tenant_id` for `period` as JSON: money as strings, dates in the tenant's zone."""
    tenant, opening, documents = load(conn, tenant_id, period)
    pages = assemble(opening, documents, default_currency=tenant["currency"])
    tz = tenant["timezone"]
    return {
        "tenant_id": tenant["id"],
        "tenant_name": tenant["name"],
        "period": str(period),
        "timezone": tz,
        "period_start": instant_to_json(period.start(tz)),
        "period_end": instant_to_json(period.end(tz)),
        "currencies": [_page_json(page, tz) for page in pages],
    }


def _page_json(page: CurrencyStatement, tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    return {
        "currency": page.currency,
        "opening_balance": to_json(page.opening),
        "entries": [
            {
                "date": _local_date(e.document.at, zone),
                "at": instant_to_json(e.document.at),
                "kind": e.document.kind,
                "number": e.document.number,
                "refers_to": e.document.refers_to,
                "description": e.document.description,
                "debit": to_json(e.debit),
                "credit": to_json(e.credit),
                "balance": to_json(e.balance),
            }
            for e in page.entries
        ],
        "invoiced": to_json(page.invoiced),
        "credited": to_json(page.credited),
        "paid": to_json(page.paid),
        "closing_balance": to_json(page.closing),
    }


def _local_date(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d")


def render(statement: dict[str, Any], format: str) -> bytes:
    """The statement JSON (`statement_json`) as a csv, xlsx or pdf document."""
    if format == "csv":
        from billing.documents import csv

        return csv.statement(statement)
    if format == "xlsx":
        from billing.documents.xlsx import write_statement

        out = BytesIO()
        write_statement(out, statement)
        return out.getvalue()
    if format == "pdf":
        from billing.documents.statement_pdf import render_statement

        return render_statement(statement)
    raise ValidationFailed.of("format", "must be json, csv, xlsx or pdf")
