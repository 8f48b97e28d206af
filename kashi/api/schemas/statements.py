"""A tenant's statement of account for a month."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, money
from kashi.api.schemas.invoices import STATUS
from kashi.api.schemas.parties import BillTo, Issuer


class StatementInvoice(Answer):
    """An invoice issued in the month, with what is due on it today."""

    id: str = Field(description="The invoice's id.", examples=["inv_e5518af54ddd40ecb248"])
    number: str = Field(description="Its number.", examples=["KS-2026-000001"])
    period: str = Field(description="The month it bills.", examples=["2026-10"])
    issued_at: str = Field(description="When it was issued (UTC).", examples=["2026-11-01T16:00:05Z"])
    subtotal: str = money("Before tax.", "10150.00")
    tax: str = money("Tax.", "609.00")
    total: str = money("subtotal + tax.", "10759.00")
    due_at: str = Field(description="Its due date (UTC).", examples=["2026-12-01T15:59:59Z"])
    status: Literal["open", "partially_paid", "paid", "credited", "overdue"] = Field(description=STATUS)
    amount_paid: str = money("Paid of it so far.", "10000.00")
    amount_due: str = money("Still owed on it.", "759.00")


class StatementCreditNote(Answer):
    """A credit note issued in the month."""

    id: str = Field(description="The credit note's id.", examples=["cn_eadbafa9568643b0bc1a"])
    number: str = Field(description="Its number.", examples=["KC-2026-000001"])
    invoice_id: str = Field(description="The invoice it corrects.", examples=["inv_e5518af54ddd40ecb248"])
    invoice_number: str = Field(description="That invoice's number.", examples=["KS-2026-000001"])
    issued_at: str = Field(description="When it was issued (UTC).", examples=["2026-11-10T02:00:00Z"])
    amount: str = money("Credited.", "100.00")
    reason: str = Field(description="Why.", examples=["two hours of downtime"])


class StatementPayment(Answer):
    """A payment received in the month."""

    id: str = Field(description="The payment's id.", examples=["pay_4fd1a8964add421f8109"])
    reference: str = Field(description="Its reference.", examples=["BANK-20261105-001"])
    received_at: str = Field(description="When the money arrived (UTC).", examples=["2026-11-05T02:00:00Z"])
    amount: str = money("Received.", "10000.00")


class StatementEntry(Answer):
    """One line of the running account."""

    date: str = Field(description="Local date, YYYY-MM-DD (tenant's timezone).", examples=["2026-11-02"])
    at: str = Field(description="The instant (UTC).", examples=["2026-11-01T16:00:05Z"])
    kind: Literal["invoice", "credit_note", "payment"] = Field(description="Which document.")
    id: str = Field(description="The document's id.", examples=["inv_e5518af54ddd40ecb248"])
    number: str = Field(description="Its number, or a payment's reference.", examples=["KS-2026-000001"])
    refers_to: str = Field(description="A credit note's invoice number; empty otherwise.", examples=[""])
    description: str = Field(description="The line as printed.", examples=["账单 Invoice for 2026-10"])
    debit: str = money("What it adds to the balance.", "10759.00")
    credit: str = money("What it takes off.", "0.00")
    balance: str = money("The running balance after it.", "10759.00")


class CurrencyStatement(Answer):
    """The month in one currency."""

    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    opening_balance: str = money("Owed at the start of the month.", "0.00")
    invoices: list[StatementInvoice] = Field(description="Invoices issued in the month.")
    credit_notes: list[StatementCreditNote] = Field(description="Credit notes issued in the month.")
    payments: list[StatementPayment] = Field(description="Payments received in the month.")
    entries: list[StatementEntry] = Field(description="Every document in time order with the running balance.")
    invoiced: str = money("Invoiced in the month.", "10759.00")
    credited: str = money("Credited in the month.", "0.00")
    paid: str = money("Paid in the month.", "10000.00")
    closing_balance: str = money("Owed at the end of the month.", "759.00")


class Statement(Answer):
    """One tenant, one month: opening balance, invoices, credit notes, payments, closing balance. The
    top-level figures are the tenant's own currency; `currencies` has one block per currency."""

    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    tenant_name: str = Field(description="Its display name.", examples=["Acme 算力"])
    period: str = Field(description="The month, YYYY-MM.", examples=["2026-11"])
    timezone: str = Field(description="The tenant's timezone.", examples=["Asia/Shanghai"])
    period_start: str = Field(description="First instant of the month (UTC).", examples=["2026-10-31T16:00:00Z"])
    period_end: str = Field(description="First instant after it (UTC).", examples=["2026-11-30T16:00:00Z"])
    currency: str = Field(description="The tenant's currency (of the top-level figures).", examples=["CNY"])
    opening_balance: str = money("Owed at the start of the month.", "10759.00")
    invoices: list[StatementInvoice] = Field(description="Invoices issued in the month.")
    credit_notes: list[StatementCreditNote] = Field(description="Credit notes issued in the month.")
    payments: list[StatementPayment] = Field(description="Payments received in the month.")
    closing_balance: str = money("Owed at the end of the month.", "759.00")
    currencies: list[CurrencyStatement] = Field(description="One block per currency.")
    issuer: Issuer | None = Field(description="The issuer profile in force; null until one is set.")
    bill_to: BillTo = Field(description="The tenant as billed.")
