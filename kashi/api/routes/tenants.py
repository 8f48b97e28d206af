"""Tenants (SPEC §10)."""

from fastapi import APIRouter, Body

from billing.services import tenants
from kashi.api.deps import ConnDep, CurrentPrincipal, Operator, SettingsDep, ensure_tenant_visible

router = APIRouter(tags=["tenants"])


@router.post("/tenants", status_code=201)
def create_tenant(conn: ConnDep, principal: Operator, settings: SettingsDep, payload: dict = Body(...)) -> dict:
    return tenants.create(conn, payload, actor=f"key:{principal.key_id}",
                          default_timezone=settings.default_timezone, default_currency=settings.default_currency)


@router.get("/tenants/{tenant_id}")
def get_tenant(tenant_id: str, conn: ConnDep, principal: CurrentPrincipal) -> dict:
    ensure_tenant_visible(principal, tenant_id)
    return tenants.get(conn, tenant_id)
