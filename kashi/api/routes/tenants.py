"""Tenants and their billing profiles: create, read, change the profile, list and search."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from billing.services import tenants
from kashi.api.deps import BillingReader, ConnDep, Operator, SettingsDep, VisibleTenant
from kashi.api.pagination import page

router = APIRouter(tags=["tenants"])

_TERMS = "Days from the invoice's issue date to its due date (the end of that local day); default 30."


class BillingProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = Field(
        None, max_length=500, description="The tenant's registered legal name.", examples=["上海算力科技有限公司"]
    )
    tax_id: str | None = Field(
        None,
        max_length=500,
        description="Tax registration number (e.g. a 18-character unified social credit code).",
        examples=["91310000MA1FL4XN2K"],
    )
    address: str | None = Field(
        None, max_length=500, description="Billing address.", examples=["上海市浦东新区张江路 88 号"]
    )
    billing_email: str | None = Field(
        None, max_length=500, description="Where invoices are sent.", examples=["ap@example.cn"]
    )
    payment_terms_days: int | None = Field(None, ge=0, le=365, strict=True, description=_TERMS, examples=[30])


class TenantCreate(BillingProfile):
    id: str = Field(description="Tenant id: letters, digits and . _ : - only, at most 128.", examples=["tenant-a"])
    name: str | None = Field(None, description="Display name; defaults to the id.", examples=["算力客户 A"])
    timezone: str | None = Field(
        None, description="IANA billing timezone; default Asia/Shanghai.", examples=["Asia/Shanghai"]
    )
    currency: str | None = Field(None, description="ISO 4217 currency; default CNY.", examples=["CNY"])


class TenantPatch(BillingProfile):
    name: str | None = Field(None, description="Display name.", examples=["算力客户 A"])


class Tenant(BaseModel):
    id: str
    name: str
    timezone: str
    currency: str
    created_at: str = Field(description="RFC 3339 instant (UTC).")
    legal_name: str | None
    tax_id: str | None
    address: str | None
    billing_email: str | None
    payment_terms_days: int


class TenantPage(BaseModel):
    items: list[Tenant]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


@router.post("/tenants", status_code=201, response_model=Tenant)
def create_tenant(conn: ConnDep, principal: Operator, settings: SettingsDep, body: TenantCreate) -> dict:
    """Create a tenant with its billing profile (unknown fields are refused)."""
    return tenants.create(
        conn,
        body.model_dump(exclude_unset=True),
        actor=f"key:{principal.key_id}",
        default_timezone=settings.default_timezone,
        default_currency=settings.default_currency,
    )


@router.get("/tenants", response_model=TenantPage)
def list_tenants(
    conn: ConnDep,
    principal: BillingReader,
    q: Annotated[str | None, Query(description="Text found in the id, name or legal name (any case).")] = None,
    cursor: Annotated[str | None, Query(description="The last tenant id of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """Tenants ordered by id, optionally those whose id, name or legal name contains `q`."""
    return page(tenants.search(conn, q or None, cursor or None, limit), limit, key="id")


@router.get("/tenants/{tenant_id}", response_model=Tenant)
def get_tenant(conn: ConnDep, tenant_id: VisibleTenant) -> dict:
    return tenants.get(conn, tenant_id)


@router.patch("/tenants/{tenant_id}", response_model=Tenant)
def update_tenant(tenant_id: str, conn: ConnDep, principal: Operator, body: TenantPatch) -> dict:
    """Change the name or billing profile (an event on the tenant's stream). Invoices already issued keep
    the profile they were issued with; timezone and currency cannot change."""
    return tenants.update(conn, tenant_id, body.model_dump(exclude_unset=True), actor=f"key:{principal.key_id}")
