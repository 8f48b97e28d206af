"""Payments and balances. A resent payment (same tenant and reference) answers 200 with
the first payment; a new one answers 201."""

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from billing.services import payments, tenants
from kashi.api.deps import ConnDep, Reader, VisibleTenant, listing_scope, require
from kashi.api.pagination import page
from kashi.keys import Principal

router = APIRouter(tags=["payments"])
Cashier = Annotated[Principal, require("operator", "finance")]


@router.post("/payments", status_code=201)
def record_payment(conn: ConnDep, principal: Cashier, payload: dict = Body(...)):
    """Operators and finance. `reference` is unique per tenant: a resend answers 200 with the first
    payment, a new one 201. Allocated to `invoice_id` first if named, else to the tenant's oldest
    unpaid invoices of its currency; what is left is its credit balance."""
    payment, created = payments.record_payment(conn, payload)
    return JSONResponse(payment, status_code=201 if created else 200)


@router.get("/payments")
def list_payments(
    conn: ConnDep,
    principal: Reader,
    tenant_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """Payments by id. A tenant key lists its own; operators and finance may name a tenant."""
    tenant_id = listing_scope(principal, tenant_id)
    return page(payments.list_payments(conn, tenant_id, cursor, limit), limit, key="id")


@router.get("/payments/{payment_id}")
def get_payment(payment_id: str, conn: ConnDep, principal: Reader) -> dict:
    """The payment and where it went: `allocations` (invoice id, number, amount) and what is `unallocated`
    (the tenant's credit balance, taken by its next invoices). A payment naming `invoice_id` pays that
    invoice first; the others pay the oldest unpaid invoices of their currency first."""
    return payments.get_payment(conn, payment_id, tenant_id=principal.tenant_id if principal.role == "tenant" else None)


@router.get("/tenants/{tenant_id}/balance")
def balance(conn: ConnDep, principal: Reader, tenant_id: VisibleTenant) -> dict:
    """Per currency: invoiced, credited, paid, and the balance owed."""
    tenants.get(conn, tenant_id)
    return {"tenant_id": tenant_id, "balances": payments.balances(conn, tenant_id)}
