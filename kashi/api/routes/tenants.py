"""Tenants."""

from fastapi import APIRouter, Body

from billing.services import tenants
from kashi.api.deps import ConnDep, Operator, SettingsDep, VisibleTenant

router = APIRouter(tags=["tenants"])


@router.post("/tenants", status_code=201)
def create_tenant(conn: ConnDep, principal: Operator, settings: SettingsDep, payload: dict = Body(...)) -> dict:
    return tenants.create(conn, payload, actor=f"key:{principal.key_id}",
                          default_timezone=settings.default_timezone, default_currency=settings.default_currency)


@router.get("/tenants/{tenant_id}")
def get_tenant(conn: ConnDep, tenant_id: VisibleTenant) -> dict:
    return tenants.get(conn, tenant_id)
