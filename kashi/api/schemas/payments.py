"""Payments received and where they went."""

from __future__ import annotations

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, example, instant, money


class PaymentCreate(Body):
    """Money received from a tenant. Money as a decimal string (or an integer), never a JSON float."""

    model_config = example(
        tenant_id="acme",
        amount="10000.00",
        currency="CNY",
        received_at="2026-11-05T10:00:00+08:00",
        reference="BANK-20261105-001",
    )

    tenant_id: str = Field(description="The paying tenant.", examples=["acme"])
    amount: str = money("Received.", "10000.00")
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    received_at: str = instant("When the money arrived.", "2026-11-05T10:00:00+08:00")
    reference: str = Field(
        description="The bank's or payer's reference, unique per tenant: a resent payment answers 200 with the "
        "first and is not counted twice.",
        examples=["BANK-20261105-001"],
    )
    invoice_id: str | None = Field(
        None,
        description="The invoice it pays first; absent: the oldest unpaid invoices of its currency first.",
        examples=["inv_e5518af54ddd40ecb248"],
    )


class Payment(Answer):
    id: str = Field(description="The payment's id.", examples=["pay_4fd1a8964add421f8109"])
    tenant_id: str = Field(description="The paying tenant.", examples=["acme"])
    reference: str = Field(description="Unique per tenant.", examples=["BANK-20261105-001"])
    amount: str = money("Received.", "10000.00")
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    received_at: str = Field(description="When the money arrived (UTC).", examples=["2026-11-05T02:00:00Z"])
    recorded_at: str = Field(description="When it was recorded (UTC).", examples=["2026-11-05T03:00:00Z"])
    invoice_id: str | None = Field(description="The invoice it was sent for, if named.", examples=[None])


class Payments(Page):
    items: list[Payment] = Field(description="Payments by id.")


class Allocation(Answer):
    invoice_id: str = Field(description="The invoice paid.", examples=["inv_e5518af54ddd40ecb248"])
    invoice_number: str = Field(description="Its number.", examples=["KS-2026-000001"])
    amount: str = money("Paid of it.", "10000.00")


class PaymentDetail(Payment):
    """A payment and where it went."""

    allocations: list[Allocation] = Field(description="The invoices it paid, oldest first.")
    unallocated: str = money("What is left: the tenant's credit balance, taken by its next invoices.", "0.00")
