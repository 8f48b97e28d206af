"""Tenants: their creation, billing profile, the answer, and their balance.

The tenants service validates the bodies itself (one 422 names every bad field, unknown ones included);
these models describe them."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Body, Page, money

_TERMS = "Days from the invoice's issue date to its due date (the end of that local day); default 30."


class BillingProfile(Body):
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
    """A new tenant: its id, name, the timezone its months are cut in, its currency, its billing profile."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "acme",
                    "name": "Acme 算力",
                    "timezone": "Asia/Shanghai",
                    "currency": "CNY",
                    "legal_name": "上海算力科技有限公司",
                    "tax_id": "91310000MA1FL4XN2K",
                    "billing_email": "ap@example.cn",
                    "payment_terms_days": 30,
                }
            ]
        },
    )

    id: str = Field(
        description="Your id for the tenant (events name it as their `subject`): letters, digits and . _ : - "
        "only, at most 128.",
        examples=["acme"],
    )
    name: str | None = Field(
        None, description="Shown on invoices and statements; defaults to the id.", examples=["Acme 算力"]
    )
    timezone: str | None = Field(
        None, description="IANA zone its months begin and end in; default Asia/Shanghai.", examples=["Asia/Shanghai"]
    )
    currency: str | None = Field(None, description="ISO 4217 currency of its invoices; default CNY.", examples=["CNY"])


class TenantPatch(BillingProfile):
    """A change of name or billing profile; timezone and currency never change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"legal_name": "上海算力科技有限公司", "payment_terms_days": 45}]},
    )

    name: str | None = Field(None, description="Display name.", examples=["算力客户 A"])


class Tenant(Answer):
    """A tenant with its billing profile as it stands now (issued invoices keep the one they were issued with)."""

    id: str = Field(description="The tenant's id.", examples=["acme"])
    name: str = Field(description="Display name.", examples=["Acme 算力"])
    timezone: str = Field(description="IANA zone its months are cut in.", examples=["Asia/Shanghai"])
    currency: str = Field(description="ISO 4217 currency of its invoices.", examples=["CNY"])
    created_at: str = Field(description="When it was created (UTC).", examples=["2026-12-01T22:41:08.041784+00:00"])
    legal_name: str | None = Field(description="Registered legal name.", examples=["上海算力科技有限公司"])
    tax_id: str | None = Field(description="Tax registration number.", examples=["91310000MA1FL4XN2K"])
    address: str | None = Field(description="Billing address.", examples=["上海市浦东新区张江路 88 号"])
    billing_email: str | None = Field(description="Where invoices are sent.", examples=["ap@example.cn"])
    payment_terms_days: int = Field(description=_TERMS, examples=[30])


class TenantPage(Page):
    items: list[Tenant] = Field(description="Tenants by id.")


class CurrencyBalance(Answer):
    """What a tenant owes in one currency."""

    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    invoiced: str = money("Total of issued invoices.", "10759.00")
    credited: str = money("Total of credit notes.", "100.00")
    paid: str = money("Total of payments received.", "10000.00")
    balance: str = money("What the tenant owes: invoiced − credited − paid.", "659.00")


class Balance(Answer):
    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    balances: list[CurrencyBalance] = Field(description="One per currency it was billed or paid in.")
