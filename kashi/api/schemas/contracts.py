"""Contracts: signed terms and items, amendments, terminations and their quotes, the event stream."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, instant, money


class Penalty(Body):
    basis: Literal["remaining_closed_value", "fixed_months"] = Field(
        description="remaining_closed_value: rate × the recurring value left in the closed term; fixed_months: "
        "months × the recurring monthly value."
    )
    rate: str | None = Field(None, description="With remaining_closed_value: a fraction.", examples=["0.20"])
    months: int | None = Field(None, description="With fixed_months.", examples=[3])


class Item(Body):
    """One priced line of the contract; which fields apply depends on `pricing`."""

    id: str = Field(description="Unique within the contract.", examples=["i-1"])
    pricing: Literal["machine_month", "p_year", "gpu_hour", "token"] = Field(
        description="machine_month: machines × unit_price a month; p_year: capacity P × unit_price a year; "
        "gpu_hour: card-hours used × unit_price (optional commitment); token: price per million tokens."
    )
    gpu_model: str | None = Field(None, examples=["RTX-4090"])
    cards_per_machine: int | None = Field(None, examples=[8])
    machines: int | None = Field(None, examples=[2])
    capacity_p: str | None = Field(None, description="p_year: capacity in P (PFLOPS FP16).", examples=["100"])
    unit_price: str | None = money("Price per unit (machine-month, P-year or card-hour).", "5000.00")
    committed_card_hours: str | None = Field(
        None, description="gpu_hour: hours a month paid even if unused.", examples=["1000"]
    )
    model: str | None = Field(None, description="token: the served model, or '*'.", examples=["qwen2.5-72b"])
    input_price: str | None = money("token: per million input tokens.", "2.00")
    output_price: str | None = money("token: per million output tokens.", "8.00")
    cached_input_price: str | None = money("token: per million cached input tokens.", "0.50")


class ContractCreate(Body):
    id: str = Field(description="Your id: letters, digits and . _ : - only, at most 128.", examples=["c-acme-1"])
    tenant_id: str = Field(examples=["acme"])
    currency: str = Field(examples=["CNY"])
    tax_rate: str = Field(description="A fraction: 0.06 for 6 % VAT.", examples=["0.06"])
    start: str = instant("When fees start.")
    closed_months: int = Field(description="Take-or-pay months from start.", examples=[12])
    open_months: int = Field(description="Months after the closed term, ended with notice.", examples=[12])
    notice_days: int = Field(description="Calendar days of notice in the open term.", examples=[30])
    penalty: Penalty | None = None
    items: list[Item]


class Contract(Answer):
    """The contract as it stands at `at`: its terms with the items then in force, and its term."""

    id: str = Field(examples=["c-acme-1"])
    tenant_id: str = Field(examples=["acme"])
    currency: str = Field(examples=["CNY"])
    tax_rate: str = Field(examples=["0.06"])
    start: str = Field(examples=["2026-09-30T16:00:00Z"])
    closed_months: int
    open_months: int
    notice_days: int
    penalty: dict[str, Any] | None
    items: list[dict[str, Any]] = Field(description="Items in force at `at`, in the shape they were signed.")
    version: int = Field(description="Events on its stream; send it as If-Match to amend or terminate.")
    at: str
    status: str = Field(examples=["closed_term"])
    closed_end: str = Field(examples=["2027-09-30T16:00:00Z"])
    term_end: str = Field(examples=["2028-09-30T16:00:00Z"])
    terminated_at: str | None
    notice_given_at: str | None
    rmv: str = money("Recurring monthly value at `at`.", "10125.00")


class ContractSummary(Answer):
    id: str
    tenant_id: str
    currency: str
    version: int
    start: str
    closed_end: str
    term_end: str
    terminated_at: str | None


class Contracts(Page):
    items: list[ContractSummary]


class ContractEvent(Answer):
    type: Literal["ContractSigned", "ContractAmended", "ContractTerminated"]
    contract_id: str
    version: int
    recorded_at: str
    actor: str = Field(examples=["key:8232b36ac6fb"])
    data: dict[str, Any]


class ContractEvents(Page):
    items: list[ContractEvent]


class AmendmentCreate(Body):
    item_id: str = Field(examples=["i-1"])
    effective_at: str = instant("From when; not inside a closed period.", "2027-01-01T00:00:00+08:00")
    changes: dict[str, Any] = Field(
        description="New machines, capacity_p or committed_card_hours.", examples=[{"machines": 3}]
    )


class ChargeLine(Answer):
    """An invoice line (also in quotes and amendment penalties)."""

    kind: Literal[
        "machine_month", "p_year", "gpu_hour", "gpu_hour_shortfall", "token", "penalty", "notice_in_lieu", "adjustment"
    ]
    contract_id: str | None = Field(examples=["c-acme-1"])
    item_id: str | None = Field(examples=["i-1"])
    description: str = Field(examples=["2 × 8×RTX-4090 machines, 2026-10"])
    quantity: str = Field(examples=["2"])
    unit: str = Field(examples=["machine-month"])
    unit_price: str = Field(examples=["5000.00"])
    amount: str = money("quantity × unit_price, rounded once.", "10000.00")
    tax_rate: str = Field(examples=["0.06"])
    tax: str = money("amount × tax_rate.", "600.00")
    period_start: str = Field(examples=["2026-09-30T16:00:00Z"])
    period_end: str = Field(examples=["2026-10-31T16:00:00Z"])


class Amendment(Answer):
    contract_id: str
    version: int
    currency: str
    item_id: str
    changes: dict[str, Any]
    effective_at: str
    lines: list[ChargeLine] = Field(description="Penalty for a reduction inside the closed term, if any.")
    amount: str
    tax: str
    total: str


class TerminationCreate(Body):
    effective_at: str = instant("When fees end; not inside a closed period.", "2027-10-01T00:00:00+08:00")
    notice_given_at: str | None = instant(
        "When notice was given (open term: notice_in_lieu runs from it).", "2027-08-01T00:00:00+08:00"
    )


class TerminationQuote(Answer):
    contract_id: str
    currency: str
    effective_at: str
    notice_given_at: str
    closed_end: str
    term_end: str
    in_closed_term: bool
    remaining_closed_value: str = money("Recurring value left in the closed term from effective_at.", "90750.00")
    lines: list[ChargeLine]
    amount: str
    tax: str
    total: str


class Termination(TerminationQuote):
    version: int
