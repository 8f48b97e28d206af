"""Invoices (issued once, never changed), their fapiao, credit notes, and the draft a close would issue."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, Single, example, money
from kashi.api.schemas.contracts import ChargeLine

STATUS = (
    "open (not yet due), partially_paid, paid, credited (credit notes cover it), overdue (past due_at "
    "with something owed); derived from payments and credit notes, never an update of the invoice."
)


class Fapiao(Answer):
    """A fapiao (发票) the tax system issued for the invoice, recorded by finance."""

    number: str = Field(description="The fapiao number.", examples=["24312000000012345678"])
    issued_on: str = Field(description="Its issue date, YYYY-MM-DD.", examples=["2026-11-05"])
    kind: Literal["general", "special"] = Field(description="general: 普票; special: 专票.")
    recorded_at: str = Field(description="When finance recorded it (UTC).", examples=["2026-11-05T03:00:00Z"])


class Invoice(Answer):
    """A bill of charges (账单) for a tenant's month in one currency. Issued once, never changed;
    corrections are credit notes."""

    id: str = Field(description="The invoice's id.", examples=["inv_e5518af54ddd40ecb248"])
    number: str = Field(description="KS-YYYY-NNNNNN, gapless per currency.", examples=["KS-2026-000001"])
    tenant_id: str = Field(description="The tenant billed.", examples=["acme"])
    period: str = Field(description="The month billed, YYYY-MM (tenant's timezone).", examples=["2026-10"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    issued_at: str = Field(description="When it was issued (UTC).", examples=["2026-11-01T16:00:05Z"])
    lines: list[ChargeLine] = Field(description="The charges, by contract and item.")
    subtotal: str = money("Sum of line amounts.", "10150.00")
    tax: str = money("Sum of line taxes.", "609.00")
    total: str = money("subtotal + tax.", "10759.00")
    due_at: str = Field(
        description="End of the local day issued_at + the tenant's payment terms (UTC).",
        examples=["2026-12-01T15:59:59Z"],
    )
    amount_credited: str = money("Credit notes against it.", "0.00")
    amount_paid: str = money("Payments allocated to it.", "10000.00")
    amount_due: str = money("total − credited − paid.", "759.00")
    status: Literal["open", "partially_paid", "paid", "credited", "overdue"] = Field(description=STATUS)
    fapiao: list[Fapiao] = Field(description="Fapiao recorded for it.")


class Invoices(Page):
    items: list[Invoice] = Field(description="Invoices by number.")


class InvoicePreview(Answer):
    """What a close would issue now: the invoice JSON, unnumbered, changing nothing."""

    id: None = Field(None, description="Always null: nothing is issued.")
    number: None = Field(None, description="Always null: nothing is numbered.")
    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    period: str = Field(description="The month, YYYY-MM.", examples=["2026-12"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    issued_at: str = Field(description="Now (UTC): as if issued now.", examples=["2026-12-15T08:00:00Z"])
    lines: list[ChargeLine] = Field(description="The charges so far.")
    subtotal: str = money("Sum of line amounts.", "10150.00")
    tax: str = money("Sum of line taxes.", "609.00")
    total: str = money("subtotal + tax.", "10759.00")
    due_at: str = Field(description="The due date it would have (UTC).", examples=["2027-01-14T15:59:59Z"])
    amount_credited: str = money("Always 0.00.", "0.00")
    amount_paid: str = money("What the tenant's credit balance would pay of it.", "0.00")
    amount_due: str = money("total − amount_paid.", "10759.00")
    status: Literal["draft"] = Field(description="Always draft.")
    fapiao: list[Fapiao] = Field(description="Always empty.")


class FapiaoCreate(Body):
    """A fapiao (发票) the tax system issued for an invoice."""

    model_config = example(number="24312000000012345678", issued_on="2026-11-05", kind="special")

    number: str = Field(
        min_length=1, max_length=64, description="The fapiao number.", examples=["24312000000012345678"]
    )
    issued_on: date = Field(description="The fapiao's issue date, YYYY-MM-DD.", examples=["2026-11-05"])
    kind: Literal["general", "special"] = Field(
        description="general: 普票 (general VAT fapiao); special: 专票 (special VAT fapiao).", examples=["special"]
    )


class CreditNoteCreate(Body):
    """A correction of an issued invoice (which itself never changes)."""

    model_config = example(amount="100.00", reason="two hours of downtime on 10 October")

    amount: str = money("More than 0, at most what remains of the invoice's total.", "100.00")
    reason: str = Field(description="Printed on the credit note.", examples=["two hours of downtime on 10 October"])


class CreditNote(Answer):
    id: str = Field(description="The credit note's id.", examples=["cn_eadbafa9568643b0bc1a"])
    number: str = Field(description="KC-YYYY-NNNNNN, gapless per currency.", examples=["KC-2026-000001"])
    invoice_id: str = Field(description="The invoice it corrects.", examples=["inv_e5518af54ddd40ecb248"])
    tenant_id: str = Field(description="The invoice's tenant.", examples=["acme"])
    currency: str = Field(description="The invoice's currency.", examples=["CNY"])
    amount: str = money("Credited.", "100.00")
    reason: str = Field(description="Why.", examples=["two hours of downtime on 10 October"])
    issued_at: str = Field(description="When it was issued (UTC).", examples=["2026-11-10T02:00:00Z"])


class CreditNotes(Single):
    items: list[CreditNote] = Field(description="By number.")
    remaining: str = money("What may still be credited against the invoice.", "10659.00")
