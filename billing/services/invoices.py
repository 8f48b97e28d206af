"""Reading issued invoices, and correcting them with credit notes (SPEC §7).

An invoice is never changed: a correction is a credit note against it, numbered gaplessly in the
"KC" series, never more than what remains of the invoice's total (CreditExceedsRemaining → 422).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from billing.core.money import parse_amount, to_json
from billing.core.periods import Period, instant_to_json
from billing.store import numbering
from billing.store.balances import add_to_balance
from billing.store.invoices import line_from_row
from kashi.errors import CreditExceedsRemaining, NotFound, ValidationFailed


def _not_found(invoice_id: str) -> NotFound:
    return NotFound(f"invoice {invoice_id} not found", [{"field": "invoice_id", "reason": "not found"}])


def invoice_row(conn: Connection, invoice_id: str, *, tenant_id: str | None = None, lock: bool = False):
    """The invoice row; NotFound when missing or (with `tenant_id`) another tenant's."""
    row = conn.execute(text("SELECT * FROM invoices WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                       {"id": invoice_id}).first()  # fmt: skip
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise _not_found(invoice_id)
    return row


def invoice_json(conn: Connection, invoice_id: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The SPEC §7 invoice JSON: its fields and its lines' fields, nothing more, so it never changes
    once issued (credit notes against it are read with `credit_notes`)."""
    row = invoice_row(conn, invoice_id, tenant_id=tenant_id)
    return _invoices_json(conn, [row])[0]


def list_invoices(
    conn: Connection, *, tenant_id: str | None, period: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Invoices (each the SPEC §7 JSON, lines included) ordered by number; `after` is the cursor,
    the last number seen (ValidationFailed naming `cursor` when it is not an invoice number)."""
    if period is not None:
        Period.parse(period)
    if after is not None and not _is_invoice_number(after):
        raise ValidationFailed.of("cursor", f"{after!r} is not a cursor of this listing")
    rows = conn.execute(
        text("""SELECT * FROM invoices
                WHERE (CAST(:t AS text) IS NULL OR tenant_id = :t) AND (CAST(:p AS text) IS NULL OR period = :p)
                  AND (CAST(:a AS text) IS NULL OR number > :a)
                ORDER BY number LIMIT :l"""),
        {"t": tenant_id, "p": period, "a": after, "l": limit},
    ).all()
    return _invoices_json(conn, rows)


def _is_invoice_number(value: str) -> bool:
    try:
        return numbering.parse_number(value)[0] == numbering.INVOICE_SERIES
    except ValueError:
        return False


def _invoices_json(conn: Connection, rows: list) -> list[dict[str, Any]]:
    """The JSON of invoice rows, their lines read in one query."""
    lines: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for line in conn.execute(
            text("""SELECT l.*, i.currency FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
                    WHERE l.invoice_id = ANY(:ids) ORDER BY l.invoice_id, l.position"""),
            {"ids": list(lines)},
        ):
            lines[line.invoice_id].append(line_from_row(line).to_json())
    return [
        {"id": row.id, "number": row.number, "tenant_id": row.tenant_id, "period": row.period,
         "currency": row.currency, "issued_at": instant_to_json(row.issued_at), "lines": lines[row.id],
         "subtotal": to_json(row.subtotal), "tax": to_json(row.tax), "total": to_json(row.total)}
        for row in rows
    ]  # fmt: skip


def credit_notes(conn: Connection, invoice_id: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The credit notes issued against an invoice, oldest first, and what remains of its total:
    `{"items": [...], "next_cursor": null, "remaining": "…"}` (NotFound as for `invoice_json`)."""
    invoice = invoice_row(conn, invoice_id, tenant_id=tenant_id)
    notes = credit_notes_of(conn, invoice_id)
    credited = sum((Decimal(note["amount"]) for note in notes), Decimal("0.00"))
    return {"items": notes, "next_cursor": None, "remaining": to_json(invoice.total - credited)}


def credit_notes_of(conn: Connection, invoice_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT * FROM credit_notes WHERE invoice_id = :id ORDER BY number"),
                        {"id": invoice_id}).all()  # fmt: skip
    return [_note_json(r) for r in rows]


def _note_json(row) -> dict[str, Any]:
    return {
        "id": row.id, "number": row.number, "invoice_id": row.invoice_id, "tenant_id": row.tenant_id,
        "currency": row.currency, "amount": to_json(row.amount), "reason": row.reason,
        "issued_at": instant_to_json(row.issued_at),
    }  # fmt: skip


def issue_credit_note(conn: Connection, invoice_id: str, payload: object, *, now: datetime | None = None) -> dict:
    """A credit note of `payload["amount"]` (gross, in the invoice's currency) for `payload["reason"]`.

    The invoice row is locked so two concurrent notes cannot together exceed what remains.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object with amount and reason")
    amount = parse_amount(payload.get("amount"), field="amount")
    reason = payload.get("reason")
    problems = []
    if amount <= 0:
        problems.append({"field": "amount", "reason": "must be more than 0"})
    if not isinstance(reason, str) or not reason.strip():
        problems.append({"field": "reason", "reason": "must be a non-empty string"})
    if problems:
        raise ValidationFailed("invalid credit note", problems)
    invoice = invoice_row(conn, invoice_id, lock=True)
    credited = conn.execute(text("SELECT coalesce(sum(amount), 0) FROM credit_notes WHERE invoice_id = :id"),
                            {"id": invoice_id}).scalar_one()  # fmt: skip
    remaining = invoice.total - credited
    if amount > remaining:
        raise CreditExceedsRemaining(
            f"credit of {to_json(amount)} exceeds the {to_json(remaining)} {invoice.currency} that remains of "
            f"invoice {invoice.number}",
            [{"field": "amount", "reason": f"at most {to_json(remaining)}"}],
        )
    issued_at = now or datetime.now(UTC)
    note_id = f"cn_{uuid.uuid4().hex[:20]}"
    number = numbering.allocate(conn, numbering.CREDIT_NOTE_SERIES, invoice.currency, issued_at)
    conn.execute(
        text("""INSERT INTO credit_notes (id, number, invoice_id, tenant_id, currency, amount, reason, issued_at)
                VALUES (:id, :n, :inv, :t, :c, :a, :r, :at)"""),
        {"id": note_id, "n": number, "inv": invoice_id, "t": invoice.tenant_id, "c": invoice.currency,
         "a": amount, "r": reason.strip(), "at": issued_at},
    )  # fmt: skip
    add_to_balance(conn, invoice.tenant_id, invoice.currency, credited=amount)
    row = conn.execute(text("SELECT * FROM credit_notes WHERE id = :id"), {"id": note_id}).one()
    return _note_json(row)
