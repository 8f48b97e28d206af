"""CSV documents (SPEC §8), rendering only: the invoice-line export and the statement.

UTF-8 with a byte-order mark, comma-separated, CRLF rows: Excel in a Chinese locale reads the BOM
as "this is UTF-8" and shows 租户 names instead of mojibake. Money is written as plain decimals
("3600.00", never "3,600.00" or an exponent), instants as local "YYYY-MM-DD HH:MM:SS" wall time,
which Excel parses as dates. Headers are the stable snake_case names, for imports and scripts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.core.export_columns import INVOICE_LINE_COLUMNS, Row

BOM = "\ufeff"
CHUNK_ROWS = 2_000
"""Rows rendered per chunk of bytes handed to the response or file."""

STATEMENT_COLUMNS = (
    "tenant_id",
    "period",
    "currency",
    "date",
    "kind",
    "id",
    "number",
    "refers_to",
    "description",
    "debit",
    "credit",
    "balance",
    "due_on",
    "status",
    "tenant_legal_name",
    "tenant_tax_id",
    "issuer_legal_name",
    "issuer_tax_id",
)
"""One row per entry (the month's invoices, credit notes and payments in date order), framed by an
`opening_balance` and a `closing_balance` row per currency; `id` is the document's id. An invoice's row
carries its local due date and its status when the statement was made; every row names both parties
(the issuer's columns are empty while the issuer profile is not set)."""


def cell(value: Any) -> str:
    """A value as CSV text: Decimals as plain decimals, datetimes as local wall time."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def chunks(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """The CSV as UTF-8 byte chunks (BOM first), rendering CHUNK_ROWS rows at a time: flat memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        pending += 1
        if pending == CHUNK_ROWS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def invoice_lines(rows: Iterable[Row]) -> Iterator[bytes]:
    """The finance export (rows from `billing.exports.invoice_lines`) as CSV chunks."""
    return chunks([c.name for c in INVOICE_LINE_COLUMNS], rows)


def statement_rows(statement: dict) -> Iterator[list[str]]:
    """The statement JSON (`billing.statements.statement_json`) as rows of STATEMENT_COLUMNS."""
    head = [statement["tenant_id"], statement["period"]]
    bill_to, issuer = statement.get("bill_to") or {}, statement.get("issuer") or {}
    parties = [
        bill_to.get("legal_name") or "",
        bill_to.get("tax_id") or "",
        issuer.get("legal_name") or "",
        issuer.get("tax_id") or "",
    ]
    tz = statement["timezone"]
    for page in statement["currencies"]:
        currency = page["currency"]
        invoices = {i["id"]: i for i in page["invoices"]}
        yield [
            *head,
            currency,
            "",
            "opening_balance",
            "",
            "",
            "",
            "期初余额 Opening balance",
            "",
            "",
            page["opening_balance"],
            "",
            "",
            *parties,
        ]
        for e in page["entries"]:
            invoice = invoices.get(e["id"], {}) if e["kind"] == "invoice" else {}
            due = _local_date(invoice["due_at"], tz) if invoice.get("due_at") else ""
            yield [
                *head,
                currency,
                e["date"],
                e["kind"],
                e["id"],
                e["number"],
                e["refers_to"],
                e["description"],
                e["debit"],
                e["credit"],
                e["balance"],
                due,
                invoice.get("status", ""),
                *parties,
            ]
        yield [
            *head,
            currency,
            "",
            "closing_balance",
            "",
            "",
            "",
            "期末余额 Closing balance",
            page["invoiced"],
            _sum(page["credited"], page["paid"]),
            page["closing_balance"],
            "",
            "",
            *parties,
        ]


def _local_date(instant: str, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(tz)).date().isoformat()


def _sum(*amounts: str) -> str:
    return format(sum((Decimal(a) for a in amounts), Decimal("0.00")), "f")


def statement(statement_json: dict) -> bytes:
    """The statement as one CSV document (it is small: one month of one tenant's documents)."""
    return b"".join(chunks(STATEMENT_COLUMNS, statement_rows(statement_json)))
