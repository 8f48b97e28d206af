"""Service: a tenant's statement of account for a month, as JSON (SPEC §8).

Loads the balance before the month (summed in SQL, so years of history cost one row per currency)
and the month's documents, then lets `billing.statement` fold them. The month's documents are the
invoices billing it (`invoices.period`, whenever issued) and the credit notes and payments dated in
it: `[start, end)` in the tenant's timezone (SPEC §2). The opening balance is everything earlier
by the same rule: invoices of earlier periods, credit notes and payments dated before `start`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from billing.core.money import to_json
from billing.core.periods import Period, instant_to_json
from billing.core.statement import ZERO, CurrencyStatement, Document, assemble, main_currency
from billing.services import parties, tenants
from billing.services.receivables import invoice_figures
from kashi.errors import ValidationFailed

_STATEMENT = """
    SELECT 'opening' AS kind, CAST(NULL AS text) AS id, CAST(NULL AS timestamptz) AS at, '' AS number, currency,
           sum(amount) AS amount, CAST(NULL AS text) AS period, '' AS about, '' AS refers_to,
           CAST(NULL AS text) AS invoice_id, CAST(NULL AS numeric) AS subtotal, CAST(NULL AS numeric) AS tax
      FROM (SELECT currency, total AS amount FROM invoices WHERE tenant_id = :t AND period < :month
            UNION ALL SELECT currency, -amount FROM credit_notes WHERE tenant_id = :t AND issued_at < :start
            UNION ALL SELECT currency, -amount FROM payments WHERE tenant_id = :t AND received_at < :start) moves
     GROUP BY currency
    UNION ALL
    SELECT 'invoice', id, issued_at, number, currency, total, period, period, '', NULL, subtotal, tax
      FROM invoices WHERE tenant_id = :t AND period = :month
    UNION ALL
    SELECT 'credit_note', n.id, n.issued_at, n.number, n.currency, n.amount, NULL, n.reason, i.number, n.invoice_id,
           NULL, NULL
      FROM credit_notes n JOIN invoices i ON i.id = n.invoice_id
     WHERE n.tenant_id = :t AND n.issued_at >= :start AND n.issued_at < :end
    UNION ALL
    SELECT 'payment', id, received_at, reference, currency, amount, NULL, '', '', NULL, NULL, NULL
      FROM payments WHERE tenant_id = :t AND received_at >= :start AND received_at < :end
"""
"""The balance per currency before the month ('opening' rows, one per currency the tenant had any
earlier document in) and the month's documents. One statement, so one snapshot: a payment
recorded meanwhile is either in both or in neither. Periods are `YYYY-MM` text, so `<` on them is
chronological."""


_LEAD = ("currency", "opening_balance", "invoices", "credit_notes", "payments", "closing_balance")
"""The keys of the main currency's block repeated at the top level of the statement."""


def _description(kind: str, about: str, refers_to: str) -> str:
    if kind == "invoice":
        return f"账单 Invoice for {about}"
    if kind == "credit_note":
        return f"贷记单 Credit note on {refers_to}: {about}"
    return "收款 Payment received"


def _listing(r) -> dict[str, str]:
    """The document as listed under the statement's `invoices`, `credit_notes` or `payments`."""
    if r.kind == "invoice":
        return {
            "id": r.id,
            "number": r.number,
            "period": r.period,
            "issued_at": instant_to_json(r.at),
            "subtotal": to_json(r.subtotal),
            "tax": to_json(r.tax),
            "total": to_json(r.amount),
        }
    if r.kind == "credit_note":
        return {
            "id": r.id,
            "number": r.number,
            "invoice_id": r.invoice_id,
            "invoice_number": r.refers_to,
            "issued_at": instant_to_json(r.at),
            "amount": to_json(r.amount),
            "reason": r.about,
        }
    return {"id": r.id, "reference": r.number, "received_at": instant_to_json(r.at), "amount": to_json(r.amount)}


def load(conn: Connection, tenant_id: str, period: Period) -> tuple[dict, dict[str, Decimal], list[Document], dict]:
    """(tenant, opening balance per currency, the month's documents, each document's listing by
    (kind, id)); NotFound for an unknown tenant."""
    tenant = tenants.get(conn, tenant_id)
    tz = tenant["timezone"]
    bounds = {"t": tenant_id, "month": str(period), "start": period.start(tz), "end": period.end(tz)}
    opening: dict[str, Decimal] = {}
    documents: list[Document] = []
    listings: dict[tuple[str, str], dict[str, str]] = {}
    for r in conn.execute(text(_STATEMENT), bounds):
        if r.kind == "opening":
            opening[r.currency] = r.amount
            continue
        billed = Period.parse(r.period) if r.period else None
        description = _description(r.kind, r.about, r.refers_to)
        documents.append(Document(r.kind, r.at, r.number, r.currency, r.amount, description, r.refers_to, billed, r.id))
        listings[(r.kind, r.id)] = _listing(r)
    return tenant, opening, documents, listings


def statement_json(conn: Connection, tenant_id: str, period: Period) -> dict[str, Any]:
    """The statement of `tenant_id` for `period` as JSON: money as strings, dates in the tenant's zone.

    `currencies` holds one block per currency (opening balance, invoices, credit notes, payments,
    entries with the running balance, closing balance); the top level repeats the block of the
    tenant's own currency (`main_currency`) without its entries, for the common one-currency tenant.
    """
    tenant, opening, documents, listings = load(conn, tenant_id, period)
    pages = assemble(opening, documents, default_currency=tenant["currency"])
    tz = tenant["timezone"]
    main = main_currency(tenant["currency"], {*opening, *(d.currency for d in documents)})
    lead = next((p for p in pages if p.currency == main), CurrencyStatement(main, opening.get(main, ZERO), ()))
    _add_receivables(conn, listings)
    head = _page_json(lead, tz, listings)
    party = parties.current(conn, tenant_id)
    return {
        "tenant_id": tenant["id"],
        "tenant_name": tenant["name"],
        "period": str(period),
        "timezone": tz,
        "period_start": instant_to_json(period.start(tz)),
        "period_end": instant_to_json(period.end(tz)),
        **{key: head[key] for key in _LEAD},
        "currencies": [_page_json(page, tz, listings) for page in pages],
        "issuer": party["issuer"],
        "bill_to": party["tenant"],
    }


def _add_receivables(conn: Connection, listings: dict[tuple[str, str], dict[str, str]]) -> None:
    """Each listed invoice gains its due date, status and amount due today (derived, never stored)."""
    ids = [doc_id for kind, doc_id in listings if kind == "invoice"]
    if not ids:
        return
    rows = conn.execute(text("SELECT id, tenant_id, currency FROM invoices WHERE id = ANY(:ids)"), {"ids": ids}).all()
    figures_of = invoice_figures(conn, rows)
    for invoice_id in ids:
        figures = figures_of[invoice_id]
        listings[("invoice", invoice_id)].update(
            {k: figures[k] for k in ("due_at", "status", "amount_paid", "amount_due")}
        )


def _page_json(page: CurrencyStatement, tz: str, listings: dict[tuple[str, str], dict[str, str]]) -> dict[str, Any]:
    zone = ZoneInfo(tz)

    def listed(kind: str) -> list[dict[str, str]]:
        return [listings[(kind, d.id)] for d in page.of_kind(kind)]

    return {
        "currency": page.currency,
        "opening_balance": to_json(page.opening),
        "invoices": listed("invoice"),
        "credit_notes": listed("credit_note"),
        "payments": listed("payment"),
        "entries": [
            {
                "date": _local_date(e.document.at, zone),
                "at": instant_to_json(e.document.at),
                "kind": e.document.kind,
                "id": e.document.id,
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
