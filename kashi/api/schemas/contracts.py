"""Contracts: signed terms and items, amendments, terminations and their quotes, the event stream.

The contracts service validates these bodies itself, so that one 422 names every bad field (nested ones
as ``items[0].unit_price``); these models describe the same bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Page, Single, example, instant, money


class Penalty(Body):
    """What breaking the closed term costs."""

    basis: Literal["remaining_closed_value", "fixed_months"] = Field(
        description="remaining_closed_value: rate × the recurring value left in the closed term; fixed_months: "
        "months × the recurring monthly value."
    )
    rate: str | None = Field(None, description="With remaining_closed_value: a fraction.", examples=["0.20"])
    months: int | None = Field(None, description="With fixed_months: how many months.", examples=[3])


class SlaCredit(Body):
    below: str = Field(description="Measured availability under this fraction earns the tier.", examples=["0.99"])
    rate: str = Field(description="Fraction of the item's month credited.", examples=["0.10"])


class Sla(Body):
    """Promised availability of a capacity item, and the credits when the month falls short."""

    availability: str = Field(description="Promised availability, a fraction in (0, 1].", examples=["0.995"])
    credits: list[SlaCredit] = Field(default_factory=list, description="Credit tiers, thresholds strictly descending.")


class Item(Body):
    """One priced line of the contract; which fields apply depends on `pricing`."""

    id: str = Field(description="Unique within the contract.", examples=["i-1"])
    pricing: Literal["machine_month", "p_year", "gpu_hour", "token"] = Field(
        description="machine_month: machines × unit_price a month; p_year: capacity P × unit_price a year; "
        "gpu_hour: card-hours used × unit_price (optional commitment); token: price per million tokens."
    )
    gpu_model: str | None = Field(
        None, description="machine_month, gpu_hour (and optionally p_year): the GPU model.", examples=["RTX-4090"]
    )
    cards_per_machine: int | None = Field(None, description="Cards per machine; default 8.", examples=[8])
    machines: int | None = Field(
        None, description="machine_month: machines rented; p_year: sizes capacity_p with gpu_model.", examples=[2]
    )
    capacity_p: str | None = Field(None, description="p_year: capacity in P (PFLOPS FP16 dense).", examples=["100"])
    card_tflops: str | None = Field(
        None, description="p_year in answers: the TFLOPS per card fixed at signing.", examples=["165.2"]
    )
    unit_price: str | None = money("Price per unit (machine-month, P-year or card-hour).", "5000.00", default=None)
    committed_card_hours: str | None = Field(
        None, description="gpu_hour: hours a month paid even if unused.", examples=["1000"]
    )
    model: str | None = Field(None, description="token: the served model, or '*'.", examples=["qwen2.5-72b"])
    input_price: str | None = money("token: per million input tokens.", "2.00", default=None)
    output_price: str | None = money("token: per million output tokens.", "8.00", default=None)
    cached_input_price: str | None = money("token: per million cached input tokens.", "0.50", default=None)
    supplied_by: str | None = Field(
        None,
        description="machine_month, p_year: the payable contract item this capacity is bought under, "
        '"<contract>/<item>" (for the margin report).',
        examples=["c-buy-hz/i-1"],
    )
    sla: Sla | None = Field(None, description="machine_month, p_year: availability promised and its credits.")


class ContractCreate(Body):
    """A contract to sign: with a tenant (we bill it) or with a supplier (capacity we buy, payable)."""

    model_config = example(
        id="c-acme-1",
        tenant_id="acme",
        currency="CNY",
        tax_rate="0.06",
        start="2026-10-01T00:00:00+08:00",
        closed_months=12,
        open_months=12,
        notice_days=30,
        penalty={"basis": "remaining_closed_value", "rate": "0.20"},
        items=[
            {"id": "i-1", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 2, "unit_price": "5000.00"},
            {"id": "i-2", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"},
        ],
    )

    id: str = Field(description="Your id: letters, digits and . _ : - only, at most 128.", examples=["c-acme-1"])
    tenant_id: str | None = Field(None, description="The tenant billed (or give supplier_id).", examples=["acme"])
    supplier_id: str | None = Field(
        None, description="The supplier who bills us: a payable contract (or give tenant_id).", examples=["sup-hz"]
    )
    currency: str = Field(description="ISO 4217 code of every line.", examples=["CNY"])
    tax_rate: str = Field(description="A fraction: 0.06 for 6 % VAT.", examples=["0.06"])
    start: str = instant("When fees start.")
    closed_months: int = Field(description="Take-or-pay months from start.", examples=[12])
    open_months: int = Field(description="Months after the closed term, ended with notice.", examples=[12])
    notice_days: int = Field(30, description="Calendar days of notice in the open term; default 30.", examples=[30])
    penalty: Penalty | None = Field(None, description="What breaking the closed term costs; none when absent.")
    items: list[Item] = Field(description="At least one priced item.")


class Contract(Answer):
    """The contract as it stands at `at`: its terms with the items then in force, and its term."""

    id: str = Field(description="The contract's id.", examples=["c-acme-1"])
    tenant_id: str | None = Field(
        None, description="The tenant billed (absent for a payable contract).", examples=["acme"]
    )
    supplier_id: str | None = Field(None, description="A payable contract's supplier.", examples=["sup-hz"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    tax_rate: str = Field(description="A fraction.", examples=["0.06"])
    start: str = Field(description="When fees start (UTC).", examples=["2026-09-30T16:00:00Z"])
    closed_months: int = Field(description="Take-or-pay months.", examples=[12])
    open_months: int = Field(description="Months ended with notice after the closed term.", examples=[12])
    notice_days: int = Field(description="Days of notice in the open term.", examples=[30])
    penalty: Penalty | None = Field(description="What breaking the closed term costs.")
    items: list[Item] = Field(description="Items in force at `at`, in the shape they were signed.")
    version: int = Field(description="Events on its stream; send it as If-Match to amend or terminate.", examples=[1])
    at: str = Field(description="The instant it is shown at (UTC).", examples=["2026-12-01T00:00:00Z"])
    status: str = Field(
        description="Where `at` falls: signed (before its start), closed_term, open_term, terminated or ended.",
        examples=["closed_term"],
    )
    closed_end: str = Field(
        description="End of the closed (take-or-pay) term (UTC).", examples=["2027-09-30T16:00:00Z"]
    )
    term_end: str = Field(description="End of the whole term (UTC).", examples=["2028-09-30T16:00:00Z"])
    terminated_at: str | None = Field(description="When fees end by termination, if terminated.", examples=[None])
    notice_given_at: str | None = Field(description="When notice was given, if terminated.", examples=[None])
    rmv: str = money("Recurring monthly value at `at`.", "10125.00")


class ContractSummary(Answer):
    id: str = Field(description="The contract's id.", examples=["c-acme-1"])
    tenant_id: str | None = Field(description="The tenant billed (null for a payable contract).", examples=["acme"])
    supplier_id: str | None = Field(None, description="A payable contract's supplier.", examples=["sup-hz"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    version: int = Field(description="Events on its stream.", examples=[2])
    start: str = Field(description="When fees start (UTC).", examples=["2026-09-30T16:00:00Z"])
    closed_end: str = Field(description="End of the closed term (UTC).", examples=["2027-09-30T16:00:00Z"])
    term_end: str = Field(description="End of the whole term (UTC).", examples=["2028-09-30T16:00:00Z"])
    terminated_at: str | None = Field(description="When fees end by termination, if terminated.", examples=[None])


class Contracts(Page):
    items: list[ContractSummary] = Field(description="Contracts by id.")


class ItemChanges(Body):
    """The quantities an amendment changes (at least one)."""

    model_config = example(machines=3)

    machines: int | None = Field(None, ge=0, description="machine_month, p_year: machines from now on.", examples=[3])
    capacity_p: str | None = Field(None, description="p_year: capacity in P from now on.", examples=["80"])
    committed_card_hours: str | None = Field(
        None, description="gpu_hour: committed card-hours a month from now on.", examples=["500"]
    )


class SignedData(ContractCreate):
    """`data` of ContractSigned: the contract as signed (instants in UTC)."""


class AmendedData(Answer):
    """`data` of ContractAmended."""

    item_id: str = Field(description="The item changed.", examples=["i-1"])
    changes: ItemChanges = Field(description="The quantities changed.")
    effective_at: str = Field(description="From when (UTC).", examples=["2027-01-31T16:00:00Z"])


class TerminatedData(Answer):
    """`data` of ContractTerminated."""

    effective_at: str = Field(description="When fees end (UTC).", examples=["2027-09-30T16:00:00Z"])
    notice_given_at: str = Field(description="When notice was given (UTC).", examples=["2027-08-31T16:00:00Z"])


class ContractEvent(Answer):
    """One event of the contract's stream."""

    type: Literal["ContractSigned", "ContractAmended", "ContractTerminated"] = Field(description="What happened.")
    contract_id: str = Field(description="The contract.", examples=["c-acme-1"])
    version: int = Field(description="Its place on the stream, from 1.", examples=[1])
    recorded_at: str = Field(description="When it was recorded (UTC).", examples=["2026-10-01T02:00:00Z"])
    actor: str = Field(description="Who recorded it (a key id).", examples=["key:8232b36ac6fb"])
    data: SignedData | AmendedData | TerminatedData = Field(description="What the event says, by `type`.")


class ContractEvents(Single):
    items: list[ContractEvent] = Field(description="In version order.")


class AmendmentCreate(Body):
    """A change of one item's quantities from `effective_at` on."""

    model_config = example(item_id="i-1", effective_at="2027-01-01T00:00:00+08:00", changes={"machines": 3})

    item_id: str = Field(description="The item to change.", examples=["i-1"])
    effective_at: str = instant("From when; not inside a closed period.", "2027-01-01T00:00:00+08:00")
    changes: ItemChanges = Field(description="The new quantities.")


class ChargeLine(Answer):
    """An invoice line (also in quotes and amendment penalties)."""

    kind: Literal[
        "machine_month",
        "p_year",
        "gpu_hour",
        "gpu_hour_shortfall",
        "token",
        "penalty",
        "notice_in_lieu",
        "adjustment",
        "sla_credit",
    ] = Field(description="What the line charges (adjustment: late usage of an earlier period; sla_credit: negative).")
    contract_id: str | None = Field(description="The contract it bills.", examples=["c-acme-1"])
    item_id: str | None = Field(description="The item it bills (null for a penalty).", examples=["i-1"])
    description: str = Field(description="The line as printed.", examples=["2 × 8×RTX-4090 machines, 2026-10"])
    quantity: str = Field(description="How many units, a decimal string.", examples=["2"])
    unit: str = Field(description="The unit of quantity.", examples=["machine-month"])
    unit_price: str = Field(description="Price per unit, a decimal string.", examples=["5000.00"])
    amount: str = money("quantity × unit_price, rounded once.", "10000.00")
    tax_rate: str = Field(description="The contract's tax rate.", examples=["0.06"])
    tax: str = money("amount × tax_rate.", "600.00")
    period_start: str = Field(description="Start of what the line covers (UTC).", examples=["2026-09-30T16:00:00Z"])
    period_end: str = Field(description="End of what the line covers (UTC).", examples=["2026-10-31T16:00:00Z"])


class Amendment(Answer):
    """The amendment recorded, and the penalty it bills (a reduction inside the closed term)."""

    contract_id: str = Field(description="The contract.", examples=["c-acme-1"])
    version: int = Field(description="The contract's version after it.", examples=[2])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    item_id: str = Field(description="The item changed.", examples=["i-1"])
    changes: ItemChanges = Field(description="The quantities changed.")
    effective_at: str = Field(description="From when (UTC).", examples=["2026-12-31T16:00:00Z"])
    lines: list[ChargeLine] = Field(description="Penalty for a reduction inside the closed term, if any.")
    amount: str = money("Sum of the lines.", "0.00")
    tax: str = money("Their tax.", "0.00")
    total: str = money("amount + tax.", "0.00")


class TerminationCreate(Body):
    """When the contract's fees end, and when notice was given."""

    model_config = example(effective_at="2027-10-01T00:00:00+08:00", notice_given_at="2027-08-01T00:00:00+08:00")

    effective_at: str = instant("When fees end; not inside a closed period.", "2027-10-01T00:00:00+08:00")
    notice_given_at: str | None = instant(
        "When notice was given (open term: notice_in_lieu runs from it); default effective_at.",
        "2027-08-01T00:00:00+08:00",
        default=None,
    )


class TerminationQuote(Answer):
    """What a termination effective at `effective_at` bills: a penalty, or notice in lieu."""

    contract_id: str = Field(description="The contract.", examples=["c-acme-1"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    effective_at: str = Field(description="When fees end (UTC).", examples=["2027-05-31T16:00:00Z"])
    notice_given_at: str = Field(description="When notice was given (UTC).", examples=["2027-05-31T16:00:00Z"])
    closed_end: str = Field(description="End of the closed term (UTC).", examples=["2027-08-31T16:00:00Z"])
    term_end: str = Field(description="End of the whole term (UTC).", examples=["2028-08-31T16:00:00Z"])
    in_closed_term: bool = Field(description="Whether effective_at falls inside the closed term (a penalty).")
    remaining_closed_value: str = money("Recurring value left in the closed term from effective_at.", "90750.00")
    lines: list[ChargeLine] = Field(description="The penalty or notice-in-lieu line.")
    amount: str = money("Sum of the lines.", "8640.00")
    tax: str = money("Their tax.", "518.40")
    total: str = money("amount + tax.", "9158.40")


class Termination(TerminationQuote):
    """The termination recorded (the quote's figures, billed at the next close)."""

    version: int = Field(description="The contract's version after it.", examples=[3])
