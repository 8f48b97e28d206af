"""Service: payments received, and each tenant's balance (SPEC §8).

`reference` (the bank's or the payer's) is unique per tenant: a resent payment finds the first and
changes nothing; the same reference with another amount or currency is a Conflict, never a second
payment. Balance per tenant and currency = invoices − credit notes − payments (the `balances`
projection, kept in each issuing transaction and rebuilt by `kashi replay`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.money import parse_amount, to_json, validate_currency
from billing.core.periods import instant_to_json, require_aware
from billing.services.receivables import allocations_of
from billing.services.tenants import get as get_tenant
from billing.store import outbox
from billing.store.balances import add_to_balance
from kashi.errors import Conflict, NotFound, ValidationFailed


def _parse(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object")
    allowed = {"tenant_id", "amount", "currency", "received_at", "reference", "invoice_id"}
    problems: list[dict[str, str]] = [{"field": k, "reason": "unknown field"} for k in sorted(set(payload) - allowed)]

    def check(field: str, parse):
        try:
            return parse(payload.get(field))
        except ValidationFailed as exc:
            problems.extend(exc.details or [{"field": field, "reason": exc.message}])
        except (TypeError, ValueError) as exc:
            problems.append({"field": field, "reason": str(exc)})

    amount = check("amount", lambda v: parse_amount(v, field="amount"))
    if amount is not None and amount <= 0:
        problems.append({"field": "amount", "reason": "must be more than 0"})
    currency = check("currency", lambda v: validate_currency(v, field="currency"))
    received_at = check("received_at", _instant)
    tenant_id, reference = payload.get("tenant_id"), payload.get("reference")
    if not isinstance(tenant_id, str) or not tenant_id:
        problems.append({"field": "tenant_id", "reason": "must be a tenant id"})
    if not isinstance(reference, str) or not reference.strip():
        problems.append({"field": "reference", "reason": "must be a non-empty string"})
    invoice_id = payload.get("invoice_id")
    if invoice_id is not None and (not isinstance(invoice_id, str) or not invoice_id):
        problems.append({"field": "invoice_id", "reason": "must be an invoice id, or absent"})
    if problems:
        raise ValidationFailed("invalid payment", problems)
    return {
        "tenant_id": tenant_id,
        "amount": amount,
        "currency": currency,
        "received_at": received_at,
        "reference": reference.strip(),
        "invoice_id": invoice_id,
    }


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValidationFailed.of("received_at", "must be an RFC 3339 instant with an offset")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed.of("received_at", f"{value!r} is not an RFC 3339 instant") from exc
    return require_aware(parsed, "received_at")


def record_payment(conn: Connection, payload: object) -> tuple[dict[str, Any], bool]:
    """Record a payment; returns (payment JSON, created). A resend returns the first, created False."""
    payment = _parse(payload)
    get_tenant(conn, payment["tenant_id"])
    if payment["invoice_id"] is not None:
        _check_named_invoice(conn, payment)
    row = conn.execute(
        text("""INSERT INTO payments (id, tenant_id, reference, amount, currency, received_at, invoice_id)
                VALUES (:id, :tenant_id, :reference, :amount, :currency, :received_at, :invoice_id)
                ON CONFLICT (tenant_id, reference) DO NOTHING RETURNING *"""),
        {"id": f"pay_{uuid.uuid4().hex[:20]}", **payment},
    ).first()
    if row is not None:
        add_to_balance(conn, row.tenant_id, row.currency, paid=row.amount)
        body = payment_json(row, conn)
        outbox.emit(conn, "payment.recorded", body)
        return body, True
    first = conn.execute(
        text("SELECT * FROM payments WHERE tenant_id = :t AND reference = :r"),
        {"t": payment["tenant_id"], "r": payment["reference"]},
    ).one()
    if (first.amount, first.currency, first.invoice_id) != (
        payment["amount"],
        payment["currency"],
        payment["invoice_id"],
    ):
        raise Conflict(
            f"payment reference {payment['reference']!r} is already recorded with {to_json(first.amount)} "
            f"{first.currency}",
            [{"field": "reference", "reason": "already used by another payment of this tenant"}],
        )
    return payment_json(first, conn), False


def _check_named_invoice(conn: Connection, payment: dict[str, Any]) -> None:
    row = conn.execute(
        text("SELECT tenant_id, currency FROM invoices WHERE id = :i"), {"i": payment["invoice_id"]}
    ).first()
    if row is None or row.tenant_id != payment["tenant_id"]:
        raise ValidationFailed.of("invoice_id", "no such invoice of this tenant")
    if row.currency != payment["currency"]:
        raise ValidationFailed.of(
            "invoice_id", f"the invoice is in {row.currency}, the payment in {payment['currency']}"
        )


def payment_json(row, conn: Connection | None = None) -> dict[str, Any]:
    """The payment; with `conn`, also where it went: `allocations` to invoices and what is `unallocated`
    (the tenant's credit balance, taken by the next invoices), derived from the documents."""
    body = {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "reference": row.reference,
        "amount": to_json(row.amount),
        "currency": row.currency,
        "received_at": instant_to_json(row.received_at),
        "recorded_at": instant_to_json(row.recorded_at),
        "invoice_id": row.invoice_id,
    }
    if conn is not None:
        body.update(allocations_of(conn, row))
    return body


def get_payment(conn: Connection, payment_id: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """The payment with its allocations; NotFound when missing or (with `tenant_id`) another tenant's."""
    row = conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id}).first()
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"payment {payment_id} not found", [{"field": "payment_id", "reason": "not found"}])
    return payment_json(row, conn)


def list_payments(conn: Connection, tenant_id: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("""SELECT * FROM payments WHERE (CAST(:t AS text) IS NULL OR tenant_id = :t)
                AND (CAST(:a AS text) IS NULL OR id > :a) ORDER BY id LIMIT :l"""),
        {"t": tenant_id, "a": after, "l": limit},
    ).all()
    return [payment_json(r) for r in rows]


def balances(conn: Connection, tenant_id: str) -> list[dict[str, str]]:
    """The tenant's balance per currency: invoiced − credited − paid (positive: the tenant owes)."""
    rows = conn.execute(text("SELECT * FROM balances WHERE tenant_id = :t ORDER BY currency"), {"t": tenant_id})
    return [
        {
            "currency": r.currency,
            "invoiced": to_json(r.invoiced),
            "credited": to_json(r.credited),
            "paid": to_json(r.paid),
            "balance": to_json(r.invoiced - r.credited - r.paid),
        }
        for r in rows
    ]
