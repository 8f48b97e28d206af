"""Tenants, their balances, and the GPU catalog."""

from __future__ import annotations

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, money


class TenantCreate(Body):
    id: str = Field(description="Your id for the tenant; events name it as their `subject`.", examples=["acme"])
    name: str = Field(description="Shown on invoices and statements (any script).", examples=["Acme 算力"])
    timezone: str | None = Field(
        None, description="IANA zone its months begin and end in (default Asia/Shanghai).", examples=["Asia/Shanghai"]
    )
    currency: str | None = Field(None, description="ISO 4217 default currency (default CNY).", examples=["CNY"])


class Tenant(Answer):
    id: str = Field(examples=["acme"])
    name: str = Field(examples=["Acme 算力"])
    timezone: str = Field(examples=["Asia/Shanghai"])
    currency: str = Field(examples=["CNY"])
    created_at: str = Field(examples=["2026-12-01T22:41:08.041784+00:00"])


class CurrencyBalance(Answer):
    currency: str = Field(examples=["CNY"])
    invoiced: str = money("Total of issued invoices.", "10759.00")
    credited: str = money("Total of credit notes.", "100.00")
    paid: str = money("Total of payments received.", "10000.00")
    balance: str = money("What the tenant owes: invoiced − credited − paid.", "659.00")


class Balance(Answer):
    tenant_id: str = Field(examples=["acme"])
    balances: list[CurrencyBalance]


class GpuModelCreate(Body):
    name: str = Field(description="The model name events and contracts use.", examples=["MI300X"])
    fp16_tflops: str = Field(description="Dense FP16 tensor TFLOPS (sizes p_year capacity).", examples=["1307.4"])
    source: str = Field(description="Where the figure comes from.", examples=["AMD Instinct MI300X data sheet"])


class GpuModel(Answer):
    name: str = Field(examples=["MI300X"])
    fp16_tflops: str = Field(examples=["1307.4"])
    source: str = Field(examples=["AMD Instinct MI300X data sheet"])
    builtin: bool = Field(description="Shipped with Kashi (true) or added by an operator.")


class GpuModels(Answer):
    items: list[GpuModel]
    next_cursor: None = None
