"""Reading issued invoices, and correcting them with credit notes (SPEC §7).

An invoice is never changed: a correction is a credit note against it, numbered gaplessly in the
"KC" series, never more than what remains of the invoice's total (CreditExceedsRemaining → 422).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from billing.core.money import parse_amount, to_json
from billing.core.periods import Period, instant_to_json
from billing.services.receivables import invoice_figures
from billing.store import fapiao as fapiao_store
from billing.store import numbering, outbox
from billing.store.balances import add_to_balance
from billing.store.invoices import line_from_row
from kashi import streams
from kashi.errors import Conflict, CreditExceedsRemaining, NotFound, ValidationFailed


def _not_found(invoice_id: str) -> NotFound:
    return NotFound(f"invoice {invoice_id} not found", [{"field": "invoice_id", "reason": "not found"}])


def invoice_row(conn: Connection, invoice_id: str, *, tenant_id: str | None = None, lock: bool = False):
    """The invoice row; NotFound when missing or (with `tenant_id`) another tenant's."""
    row = conn.execute(
        text("SELECT * FROM invoices WHERE id = :id" + (" FOR UPDATE" if lock else "")), {"id": invoice_id}
    ).first()
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise _not_found(invoice_id)
    return row


def invoice_json(conn: Connection, invoice_id: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The SPEC §7 invoice JSON: its fields and its lines' fields, nothing more, so it never changes
    once issued (credit notes against it are read with `credit_notes`)."""
    row = invoice_row(conn, invoice_id, tenant_id=tenant_id)
    return _invoices_json(conn, [row])[0]


def invoice_jsons(conn: Connection, invoice_ids: list[str]) -> list[dict[str, Any]]:
    """`invoice_json` of many invoices, in the order of `invoice_ids`, in a fixed number of queries."""
    rows = conn.execute(text("SELECT * FROM invoices WHERE id = ANY(:i)"), {"i": list(invoice_ids)}).all()
    by_id = {row.id: row for row in rows}
    return _invoices_json(conn, [by_id[invoice_id] for invoice_id in invoice_ids])


INVOICE_STATUSES = ("open", "partially_paid", "paid", "credited", "overdue")


def list_invoices(
    conn: Connection,
    *,
    tenant_id: str | None,
    period: str | None,
    after: str | None,
    limit: int,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Invoices (each the SPEC §7 JSON, lines included) ordered by number; `after` is the cursor,
    the last number seen (ValidationFailed naming `cursor` when it is not an invoice number).

    `status` keeps only invoices of that derived status: the listing reads on past the ones that
    differ until `limit` match or none is left, so the last number answered is still the cursor of
    the next page of the same filter."""
    if period is not None:
        Period.parse(period)
    if after is not None and not _is_invoice_number(after):
        raise ValidationFailed.of("cursor", f"{after!r} is not a cursor of this listing")
    if status is None:
        return _invoice_page(conn, tenant_id, period, after, limit)
    if status not in INVOICE_STATUSES:
        raise ValidationFailed.of("status", f"must be one of {', '.join(INVOICE_STATUSES)}")
    found: list[dict[str, Any]] = []
    chunk = max(limit, 100)
    while len(found) < limit:
        rows = _invoice_page(conn, tenant_id, period, after, chunk)
        for invoice in rows:
            if invoice["status"] == status:
                found.append(invoice)
                if len(found) == limit:
                    break
        if len(rows) < chunk:
            break
        after = rows[-1]["number"]
    return found


def _invoice_page(
    conn: Connection, tenant_id: str | None, period: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
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
    """The JSON of invoice rows, their lines read in one query; with the fapiao recorded for each and
    what it still owes (due date, amounts credited, paid and due, status: derived, never stored)."""

    lines: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for line in conn.execute(
            text("""SELECT l.*, i.currency FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
                    WHERE l.invoice_id = ANY(:ids) ORDER BY l.invoice_id, l.position"""),
            {"ids": list(lines)},
        ):
            lines[line.invoice_id].append(line_from_row(line).to_json())
    fapiao = fapiao_of(conn, [row.id for row in rows])
    figures = invoice_figures(conn, rows)
    return [
        {
            "id": row.id,
            "number": row.number,
            "tenant_id": row.tenant_id,
            "period": row.period,
            "currency": row.currency,
            "issued_at": instant_to_json(row.issued_at),
            "lines": lines[row.id],
            "subtotal": to_json(row.subtotal),
            "tax": to_json(row.tax),
            "total": to_json(row.total),
            **figures[row.id],
            "fapiao": fapiao.get(row.id, []),
        }
        for row in rows
    ]


def fapiao_of(conn: Connection, invoice_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """The fapiao recorded against each invoice, by issue date and number."""
    found: dict[str, list[dict[str, str]]] = {i: [] for i in invoice_ids}
    for r in fapiao_store.of_invoices(conn, invoice_ids):
        found[r.invoice_id].append(_fapiao_json(r))
    return found


def _fapiao_json(row) -> dict[str, str]:
    return {
        "number": row.number,
        "issued_on": row.issued_on.isoformat(),
        "kind": row.kind,
        "recorded_at": instant_to_json(row.recorded_at),
    }


FAPIAO_KINDS = ("general", "special")
"""普票 (general VAT fapiao) and 专票 (special VAT fapiao)."""


def record_fapiao(
    conn: Connection,
    invoice_id: str,
    number: str,
    issued_on: date,
    kind: str,
    *,
    actor: str,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Record that the tax system issued fapiao `number` for the invoice: a `FapiaoRecorded` event on the
    invoice's stream `invoice:<id>`, projected into `fapiao`. The same number again for the same invoice
    changes nothing; a number already recorded for another invoice is a Conflict."""
    problems = []
    number = number.strip() if isinstance(number, str) else ""
    if not number or len(number) > 64:
        problems.append({"field": "number", "reason": "must be a non-empty fapiao number of at most 64 characters"})
    if kind not in FAPIAO_KINDS:
        problems.append({"field": "kind", "reason": "must be general (普票) or special (专票)"})
    if problems:
        raise ValidationFailed("invalid fapiao", problems)
    invoice = invoice_row(conn, invoice_id, tenant_id=tenant_id, lock=True)
    existing = fapiao_store.by_number(conn, number)
    if existing is not None:
        if existing.invoice_id != invoice.id:
            raise Conflict(
                f"fapiao {number} is already recorded for another invoice",
                [{"field": "number", "reason": "already recorded"}],
            )
        return invoice_json(conn, invoice.id)
    stream = f"invoice:{invoice.id}"
    data = {"number": number, "issued_on": issued_on.isoformat(), "kind": kind}
    stored = streams.append(conn, stream, streams.current_version(conn, stream), [("FapiaoRecorded", data)], actor)
    project_fapiao(conn, invoice.id, data, stored[0].recorded_at)
    return invoice_json(conn, invoice.id)


def project_fapiao(conn: Connection, invoice_id: str, data: dict[str, str], recorded_at: datetime) -> None:
    fapiao_store.insert(conn, invoice_id, data, recorded_at)


def rebuild_fapiao(conn: Connection) -> int:
    """Refill `fapiao` from every invoice stream."""
    rows = fapiao_store.recorded_events(conn)
    for row in rows:
        project_fapiao(conn, row.stream_id.removeprefix("invoice:"), row.data, row.recorded_at)
    return len(rows)


def by_number(conn: Connection, number: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The invoice numbered `number` (NotFound when none, or another tenant's)."""
    invoice_id = conn.execute(text("SELECT id FROM invoices WHERE number = :n"), {"n": number}).scalar()
    if invoice_id is None:
        raise NotFound(f"invoice {number} not found", [{"field": "number", "reason": "not found"}])
    try:
        return invoice_json(conn, invoice_id, tenant_id=tenant_id)
    except NotFound:
        raise NotFound(f"invoice {number} not found", [{"field": "number", "reason": "not found"}]) from None


def credit_notes(conn: Connection, invoice_id: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The credit notes issued against an invoice, oldest first, and what remains of its total:
    `{"items": [...], "next_cursor": null, "remaining": "…"}` (NotFound as for `invoice_json`)."""
    invoice = invoice_row(conn, invoice_id, tenant_id=tenant_id)
    notes = credit_notes_of(conn, invoice_id)
    credited = sum((Decimal(note["amount"]) for note in notes), Decimal("0.00"))
    return {"items": notes, "next_cursor": None, "remaining": to_json(invoice.total - credited)}


def credit_notes_of(conn: Connection, invoice_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("SELECT * FROM credit_notes WHERE invoice_id = :id ORDER BY number"), {"id": invoice_id}
    ).all()
    return [_note_json(r) for r in rows]


def _note_json(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "invoice_id": row.invoice_id,
        "tenant_id": row.tenant_id,
        "currency": row.currency,
        "amount": to_json(row.amount),
        "reason": row.reason,
        "issued_at": instant_to_json(row.issued_at),
    }


def issue_credit_note(conn: Connection, invoice_id: str, payload: object, *, now: datetime | None = None) -> dict:
    """A credit note of `payload["amount"]` (gross, in the invoice's currency) for `payload["reason"]`.

    The invoice row is locked so two concurrent notes cannot together exceed what remains.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object with amount and reason")
    unknown = sorted(set(payload) - {"amount", "reason"})
    if unknown:
        raise ValidationFailed("invalid credit note", [{"field": k, "reason": "unknown field"} for k in unknown])
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
    credited = conn.execute(
        text("SELECT coalesce(sum(amount), 0) FROM credit_notes WHERE invoice_id = :id"), {"id": invoice_id}
    ).scalar_one()
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
        {
            "id": note_id,
            "n": number,
            "inv": invoice_id,
            "t": invoice.tenant_id,
            "c": invoice.currency,
            "a": amount,
            "r": reason.strip(),
            "at": issued_at,
        },
    )
    add_to_balance(conn, invoice.tenant_id, invoice.currency, credited=amount)
    row = conn.execute(text("SELECT * FROM credit_notes WHERE id = :id"), {"id": note_id}).one()
    note = _note_json(row)
    outbox.emit(conn, "credit_note.issued", note)
    return note
