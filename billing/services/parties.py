"""The parties of an issued invoice: the issuer and tenant profiles it was issued with, and its due date.

Written once, in the issuing transaction (`invoice_parties` refuses UPDATE and DELETE), so a profile
changed later never alters an issued document. Invoices issued before profiles existed have no row:
they are shown with the current tenant profile and no issuer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from billing.core.periods import instant_to_json
from billing.core.receivables import due_at
from billing.services import issuer, tenants
from billing.store import parties as store


def record(conn: Connection, invoices: list[tuple[str, str, str]], issued_at: datetime) -> None:
    """Store the parties of many invoices ``(invoice_id, tenant_id, timezone)`` issued at `issued_at`:
    the current issuer profile and each tenant's profile, read once for all of them."""
    if not invoices:
        return
    profiles = tenants.get_many(conn, sorted({tenant_id for _, tenant_id, _ in invoices}))
    profile = issuer.current(conn)
    if profile is not None:
        profile = {k: profile[k] for k in issuer.FIELDS}
    rows = []
    for invoice_id, tenant_id, tz in invoices:
        tenant = profiles[tenant_id]
        terms = tenant["payment_terms_days"]
        rows.append((invoice_id, profile, tenants.party(tenant), terms, due_at(issued_at, terms, tz)))
    store.insert(conn, rows)


def of_invoice(conn: Connection, invoice: dict[str, Any]) -> dict[str, Any]:
    """{"issuer": profile or None, "tenant": bill-to party, "payment_terms_days"} for an invoice's JSON."""
    row = store.of_invoice(conn, invoice["id"])
    if row is not None:
        return {"issuer": row.issuer, "tenant": row.tenant, "payment_terms_days": row.payment_terms_days}
    tenant = tenants.get(conn, invoice["tenant_id"])
    return {"issuer": None, "tenant": tenants.party(tenant), "payment_terms_days": tenant["payment_terms_days"]}


def current(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """The parties an invoice issued now would carry (a preview or a statement)."""
    tenant = tenants.get(conn, tenant_id)
    profile = issuer.current(conn)
    return {
        "issuer": {k: profile[k] for k in issuer.FIELDS} if profile else None,
        "tenant": tenants.party(tenant),
        "payment_terms_days": tenant["payment_terms_days"],
        "as_of": instant_to_json(datetime.now().astimezone()),
    }
