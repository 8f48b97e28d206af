"""Service: what a close of a period would issue now, as a draft invoice, changing nothing (SPEC §12).

The preview loads and assembles exactly as the close does (`close.assemble`: the contract streams
folded, the usage persisted so far rated, late usage of closed periods adjusted, the pure
`billing.core.invoicing`), against the log as it stands (the highest persisted seq), for a running
or an ended period. It numbers nothing and writes nothing: `"id"` and `"number"` are null and
`"status"` is `draft`. A credit balance the tenant holds would pay the invoice at issue, so it shows as
`amount_paid`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.invoicing import InvoiceDraft, draft
from billing.core.money import to_json
from billing.core.periods import Period, instant_to_json
from billing.core.receivables import due_at
from billing.services import tenants
from billing.services.close import assemble
from billing.services.receivables import credit_balance
from kashi.errors import Conflict, ValidationFailed


def preview(
    conn: Connection, tenant_id: str, period: Period, *, currency: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The draft invoice of `period` for `tenant_id` in `currency` (default: the tenant's own, else the only
    one it is billed in). Conflict when the period is already closed (its invoices are issued)."""
    now = now or datetime.now(UTC)
    tenant = tenants.get(conn, tenant_id)
    tz = tenant["timezone"]
    closed = conn.execute(
        text("SELECT 1 FROM period_closes WHERE tenant_id = :t AND period = :p"), {"t": tenant_id, "p": str(period)}
    ).first()
    if closed is not None:
        raise Conflict(
            f"period {period} is already closed for tenant {tenant_id}: its invoices are issued",
            [{"field": "period", "reason": "already closed"}],
        )
    watermark = conn.execute(text("SELECT coalesce(max(seq), 0) FROM usage_events")).scalar_one()
    drafts = {d.currency: d for d in assemble(conn, tenant_id, period, tz, watermark).drafts}
    if currency is not None and currency not in drafts and drafts:
        raise ValidationFailed.of("currency", f"nothing is billed in {currency}; billed: {', '.join(sorted(drafts))}")
    chosen = currency or (tenant["currency"] if tenant["currency"] in drafts or not drafts else sorted(drafts)[0])
    found = drafts.get(chosen) or draft(tenant_id, period, chosen, ())
    return draft_json(conn, found, tenant, now)


def draft_json(conn: Connection, found: InvoiceDraft, tenant: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A draft in the invoice JSON: the same fields an issued invoice has."""
    body = found.to_json()
    paid = min(credit_balance(conn, tenant["id"], found.currency), max(found.total, 0))
    return {
        "id": None,
        "number": None,
        "tenant_id": body["tenant_id"],
        "period": body["period"],
        "currency": body["currency"],
        "issued_at": instant_to_json(now),
        "lines": body["lines"],
        "subtotal": body["subtotal"],
        "tax": body["tax"],
        "total": body["total"],
        "due_at": instant_to_json(due_at(now, tenant["payment_terms_days"], tenant["timezone"])),
        "amount_credited": "0.00",
        "amount_paid": to_json(paid),
        "amount_due": to_json(max(found.total - paid, 0)),
        "status": "draft",
        "fapiao": [],
    }
