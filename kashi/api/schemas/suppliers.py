"""Suppliers (who sells us capacity under payable contracts), their bills (KP- numbers), statements."""

from __future__ import annotations

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, example, money
from kashi.api.schemas.contracts import ChargeLine


class SupplierCreate(Body):
    """A supplier: who bills us for capacity bought under payable contracts."""

    model_config = example(
        id="sup-hz", name="杭州智算中心", legal_name="杭州智算中心有限公司", tax_id="91330100MA2XXXXXX1", currency="CNY"
    )

    id: str = Field(description="Letters, digits and . _ : - only, at most 128.", examples=["sup-hz"])
    name: str | None = Field(None, description="Display name (the id when absent).", examples=["杭州智算中心"])
    legal_name: str | None = Field(
        None, description="The registered name on its bills.", examples=["杭州智算中心有限公司"]
    )
    tax_id: str | None = Field(
        None,
        description="Tax registration number, e.g. a 统一社会信用代码 (18 characters).",
        examples=["91330100MA2XXXXXX1"],
    )
    currency: str | None = Field(None, description="ISO 4217 code; CNY when absent.", examples=["CNY"])
    timezone: str | None = Field(
        None,
        description="IANA timezone its billing months count in; Asia/Shanghai when absent.",
        examples=["Asia/Shanghai"],
    )


class Supplier(Answer):
    id: str = Field(description="The supplier's id.", examples=["sup-hz"])
    name: str = Field(description="Display name.", examples=["杭州智算中心"])
    legal_name: str | None = Field(description="The registered name on its bills.", examples=["杭州智算中心有限公司"])
    tax_id: str | None = Field(description="Tax registration number.", examples=["91330100MA2XXXXXX1"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    timezone: str = Field(description="IANA timezone its billing months count in.", examples=["Asia/Shanghai"])
    created_at: str = Field(description="When it was created (UTC).", examples=["2026-12-01T08:00:00+00:00"])


class Suppliers(Page):
    items: list[Supplier] = Field(description="Suppliers by id.")


class SupplierBill(Answer):
    """What a supplier bills us for a month: the invoice JSON, with `supplier_id` and no tenant."""

    id: str = Field(description="The bill's id.", examples=["sb_3f9c0d1e2a4b5c6d7e8f"])
    number: str = Field(
        description="KP-YYYY-NNNNNN, gapless per currency, apart from the KS- invoices.", examples=["KP-2026-000001"]
    )
    tenant_id: None = Field(None, description="Always null: no tenant is billed.")
    supplier_id: str = Field(description="The supplier.", examples=["sup-hz"])
    period: str = Field(description="The month, YYYY-MM (the supplier's timezone).", examples=["2026-10"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    issued_at: str = Field(description="When the close issued it (UTC).", examples=["2026-11-01T16:00:05Z"])
    lines: list[ChargeLine] = Field(description="The charges, by payable contract and item.")
    subtotal: str = money("Sum of line amounts.", "40000.00")
    tax: str = money("Sum of line taxes.", "2400.00")
    total: str = money("subtotal + tax.", "42400.00")


class SupplierBills(Page):
    items: list[SupplierBill] = Field(description="Bills by number.")


class SupplierStatementCurrency(Answer):
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    opening_balance: str = money("Billed to us before the month.", "42400.00")
    bills: list[SupplierBill] = Field(description="The month's bills.")
    billed: str = money("Billed in the month.", "42400.00")
    closing_balance: str = money("opening_balance + billed.", "84800.00")


class SupplierStatement(Answer):
    """What we owe a supplier by month (payments to suppliers are not recorded in Kashi)."""

    supplier_id: str = Field(description="The supplier.", examples=["sup-hz"])
    supplier: Supplier = Field(description="The supplier as it stands.")
    period: str = Field(description="The month, YYYY-MM.", examples=["2026-10"])
    currencies: list[SupplierStatementCurrency] = Field(description="One block per currency.")
