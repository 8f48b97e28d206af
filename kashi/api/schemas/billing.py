"""Invoices, credit notes, payments, statements and period closes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, instant, money
from kashi.api.schemas.contracts import ChargeLine


class Invoice(Answer):
    """Issued once, never changed; corrections are credit notes."""

    id: str = Field(examples=["inv_e5518af54ddd40ecb248"])
    number: str = Field(description="Gapless per currency.", examples=["KS-2026-000001"])
    tenant_id: str = Field(examples=["acme"])
    period: str = Field(examples=["2026-10"])
    currency: str = Field(examples=["CNY"])
    issued_at: str = Field(examples=["2026-12-01T22:41:08.3417Z"])
    lines: list[ChargeLine]
    subtotal: str = money("Sum of line amounts.", "10150.00")
    tax: str = money("Sum of line taxes.", "609.00")
    total: str = money("subtotal + tax.", "10759.00")


class Invoices(Page):
    items: list[Invoice]


class CreditNoteCreate(Body):
    amount: str = money("At most what remains of the invoice's total.", "100.00")
    reason: str = Field(examples=["two hours of downtime on 10 October"])


class CreditNote(Answer):
    id: str = Field(examples=["cn_eadbafa9568643b0bc1a"])
    number: str = Field(examples=["KC-2026-000001"])
    invoice_id: str
    tenant_id: str
    currency: str
    amount: str
    reason: str
    issued_at: str


class CreditNotes(Page):
    items: list[CreditNote]
    remaining: str = money("What may still be credited against the invoice.", "10659.00")


class PaymentCreate(Body):
    tenant_id: str = Field(examples=["acme"])
    amount: str = money("Received.", "10000.00")
    currency: str = Field(examples=["CNY"])
    received_at: str = instant("When the money arrived.", "2026-11-05T10:00:00+08:00")
    reference: str = Field(
        description="Unique per tenant: a resent payment answers 200 with the first.", examples=["BANK-20261105-001"]
    )


class Payment(Answer):
    id: str = Field(examples=["pay_4fd1a8964add421f8109"])
    tenant_id: str
    reference: str
    amount: str
    currency: str
    received_at: str
    recorded_at: str


class Payments(Page):
    items: list[Payment]


class StatementEntry(Answer):
    date: str
    at: str
    kind: Literal["invoice", "credit_note", "payment"]
    id: str
    number: str
    refers_to: str
    description: str
    debit: str
    credit: str
    balance: str


class StatementCurrency(Answer):
    currency: str
    opening_balance: str
    invoices: list[dict[str, Any]]
    credit_notes: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    entries: list[StatementEntry]
    invoiced: str
    credited: str
    paid: str
    closing_balance: str


class Statement(Answer):
    """One tenant, one month: opening balance, invoices, credit notes, payments, closing balance
    (the top-level figures are the tenant's currency; `currencies` has one block per currency)."""

    tenant_id: str = Field(examples=["acme"])
    tenant_name: str = Field(examples=["Acme 算力"])
    period: str = Field(examples=["2026-11"])
    timezone: str
    period_start: str
    period_end: str
    currency: str
    opening_balance: str = Field(examples=["10759.00"])
    invoices: list[dict[str, Any]]
    credit_notes: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    closing_balance: str = Field(examples=["759.00"])
    currencies: list[StatementCurrency]


class Closed(Answer):
    invoices: list[str] = Field(
        description="Ids of the invoices the close issued; the same ids when repeated.",
        examples=[["inv_e5518af54ddd40ecb248"]],
    )


class PendingPeriod(Answer):
    tenant_id: str = Field(examples=["acme"])
    period: str = Field(examples=["2026-11"])
    reason: Literal["backdated", "older"] = Field(
        description="backdated: a contract in force was recorded after the period was due; older: not the "
        "tenant's most recent ended period (the scheduler closes only that one)."
    )
    why: str = Field(description="The same, in words, with the contracts and instants.")
    contract_ids: list[str]
    due_at: str = Field(description="Period end + grace: when the scheduler would have closed it.")


class PendingPeriods(Answer):
    items: list[PendingPeriod]
    next_cursor: None = None
