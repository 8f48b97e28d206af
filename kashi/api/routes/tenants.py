"""Tenants and their billing profiles: create, read, change the profile, list and search."""

from typing import Annotated

from fastapi import APIRouter, Body, Query

from billing.services import tenants
from kashi.api.deps import BillingReader, ConnDep, Operator, SettingsDep, VisibleTenant
from kashi.api.pagination import page

router = APIRouter(tags=["tenants"])


@router.post("/tenants", status_code=201)
def create_tenant(conn: ConnDep, principal: Operator, settings: SettingsDep, payload: dict = Body(...)) -> dict:
    """Operators only. `timezone` and `currency` default to Asia/Shanghai and CNY and never change; an
    existing id answers 409. One 422 names every bad field, unknown ones included."""
    return tenants.create(
        conn,
        payload,
        actor=f"key:{principal.key_id}",
        default_timezone=settings.default_timezone,
        default_currency=settings.default_currency,
    )


@router.get("/tenants")
def list_tenants(
    conn: ConnDep,
    principal: BillingReader,
    q: Annotated[str | None, Query(description="Text found in the id, name or legal name (any case).")] = None,
    cursor: Annotated[str | None, Query(description="The last tenant id of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """Tenants ordered by id, optionally those whose id, name or legal name contains `q`."""
    return page(tenants.search(conn, q or None, cursor or None, limit), limit, key="id")


@router.get("/tenants/{tenant_id}")
def get_tenant(conn: ConnDep, tenant_id: VisibleTenant) -> dict:
    """The tenant and its billing profile. A tenant key reads its own only (404 otherwise)."""
    return tenants.get(conn, tenant_id)


@router.patch("/tenants/{tenant_id}")
def update_tenant(tenant_id: str, conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    """Change the name or billing profile (an event on the tenant's stream). Invoices already issued keep
    the profile they were issued with; timezone and currency cannot change (422)."""
    return tenants.update(conn, tenant_id, payload, actor=f"key:{principal.key_id}")
