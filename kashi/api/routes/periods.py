"""Month close on demand (SPEC §7): ``POST /v1/periods/{YYYY-MM}/close[?tenant_id=]``.

The request runs the close service itself and answers once the invoices are committed: the close is
idempotent and serialised in PostgreSQL (per-tenant advisory lock, unique (tenant, period,
currency)), so a request racing a worker's close (the scheduler enqueues the `close_period`
actor) still yields one invoice, and repeating the request answers the same ids.
A malformed period answers 422, a period that has not ended 409 (with or without `tenant_id`).
"""

from fastapi import APIRouter

from billing.core.periods import Period
from billing.services.close import close_period
from billing.services.supplier_bills import close_suppliers
from kashi.api.deps import EngineDep, Operator

router = APIRouter(tags=["periods"])


@router.post("/periods/{period}/close")
def close(period: str, engine: EngineDep, principal: Operator, tenant_id: str | None = None) -> dict:
    """Closes tenants' periods, and without `tenant_id` every supplier's too (its bills in `supplier_bills`)."""
    month = Period.parse(period)
    invoices = close_period(engine, month, tenant_id)
    if tenant_id is not None:
        return {"invoices": invoices}
    return {"invoices": invoices, "supplier_bills": close_suppliers(engine, month)}
