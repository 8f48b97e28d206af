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


@router.get("/tenants/{tenant_id}/balance")
def balance(conn: ConnDep, principal: Reader, tenant_id: VisibleTenant) -> dict:
    tenants.get(conn, tenant_id)
    return {"tenant_id": tenant_id, "balances": payments.balances(conn, tenant_id)}
