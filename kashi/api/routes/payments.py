"""Payments and balances. A resent payment (same tenant and reference) answers 200 with
the first payment; a new one answers 201."""

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.services import payments, tenants
from kashi.api.deps import ConnDep, Reader, VisibleTenant, listing_scope, require
from kashi.api.pagination import page
from kashi.keys import Principal

router = APIRouter(tags=["payments"])
Cashier = Annotated[Principal, require("operator", "finance")]


class PaymentCreate(BaseModel):
    """A payment received from a tenant (validated by the payments service: money as a string or an integer,
    never a JSON float)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(description="The paying tenant.", examples=["tenant-a"])
    amount: str | int = Field(description="Amount received, a decimal string (or an integer).", examples=["7632.00"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    received_at: str = Field(
        description="When the money arrived, RFC 3339 with an offset.", examples=["2026-11-04T10:00:00+08:00"]
    )
    reference: str = Field(
        description="The bank's or payer's reference, unique per tenant: a resent payment is not counted twice.",
        examples=["CMB-20261104-01"],
    )
    invoice_id: str | None = Field(
        None,
        description="The invoice it pays first; absent: the oldest unpaid invoices of its currency first.",
        examples=["inv_3f9c0d1e2a4b5c6d7e8f"],
    )


_PAYMENT_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": PaymentCreate.model_json_schema()}}}
}


@router.post("/payments", status_code=201, openapi_extra=_PAYMENT_BODY)
def record_payment(conn: ConnDep, principal: Cashier, payload: dict = Body(...)):
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
    tenants.get(conn, tenant_id)
    return {"tenant_id": tenant_id, "balances": payments.balances(conn, tenant_id)}
