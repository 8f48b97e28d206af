"""Month close on demand : ``POST /v1/periods/{YYYY-MM}/close[?tenant_id=]``.

The request runs the close service itself and answers once the invoices are committed: the close is
idempotent and serialised in PostgreSQL (per-tenant advisory lock, unique (tenant, period,
currency)), so a request racing a worker's close (the scheduler enqueues the `close_period`
actor) still yields one invoice, and repeating the request answers the same ids.
A malformed period answers 422, a period that has not ended 409 (with or without `tenant_id`).
"""

from datetime import timedelta

from fastapi import APIRouter, Request

from billing.core.periods import Period
from billing.services.close import close_period, utc_now
from billing.services.pending import pending_periods
from billing.services.supplier_bills import close_suppliers
from kashi.api.deps import BillingReader, ConnDep, EngineDep, Operator, SettingsDep

router = APIRouter(tags=["periods"])


@router.post("/periods/{period}/close")
def close(
    period: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: Operator,
    tenant_id: str | None = None,
) -> dict:
    """Close an ended period (for one tenant, or every tenant whose period has ended) and answer the
    invoice ids; repeating it answers the same ids. The close first waits, up to
    ``KASHI_CLOSE_DRAIN_TIMEOUT_S`` (60 s), for every batch acknowledged before it began; if one is
    parked or not recorded in time it issues nothing and answers 409 naming the batches.
    Without ``tenant_id`` every supplier's period is closed too (its bills in ``supplier_bills``)."""
    month = Period.parse(period)
    invoices = close_period(
        engine, month, tenant_id, receipts=request.app.state.receipts, drain_timeout_s=settings.close_drain_timeout_s
    )
    if tenant_id is not None:
        return {"invoices": invoices}
    return {"invoices": invoices, "supplier_bills": close_suppliers(engine, month)}


@router.get("/periods/pending")
def pending(conn: ConnDep, settings: SettingsDep, _: BillingReader, tenant_id: str | None = None) -> dict:
    """Ended periods the scheduler will not close on its own and that wait for an operator's close:
    ``backdated`` (a contract in force in the period was recorded after the period was due, at its end
    plus the grace, so usage may still be on its way) or ``older`` (not the tenant's most recent ended
    period). Each item names the tenant, the period, why, and the contracts concerned."""
    items = pending_periods(conn, utc_now(), timedelta(hours=settings.close_grace_hours), tenant_id)
    return {"items": items, "next_cursor": None}
