"""Reports for operators and finance: receivables, breach risk, the broker's margin, fleet utilisation."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Single, money

CARD_HOURS = "card-hours to 6 places, a decimal string"


class _Aged(Answer):
    model_config = ConfigDict(populate_by_name=True)

    current: str = money("Not yet due.", "7548.50")
    days_1_30: str = money("1 to 30 days past due.", "0.00", alias="1_30")
    days_31_60: str = money("31 to 60 days past due.", "0.00", alias="31_60")
    days_61_90: str = money("61 to 90 days past due.", "0.00", alias="61_90")
    over_90: str = money("More than 90 days past due.", "0.00")
    total_due: str = money("Sum of the buckets.", "7548.50")
    credit_balance: str = money("Payments not allocated to any invoice (the tenant's credit).", "0.00")


class ReceivablesRow(_Aged):
    """What one tenant owes in one currency, by days past the due date."""

    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    tenant_name: str = Field(description="Its display name.", examples=["Acme 算力"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])


class ReceivablesTotal(_Aged):
    """Every tenant's receivables in one currency."""

    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])


class Receivables(Answer):
    """Aged receivables at the end of `as_of`."""

    as_of: str = Field(
        description="The day aged at, YYYY-MM-DD (its end in each tenant's timezone).", examples=["2026-12-02"]
    )
    buckets: list[str] = Field(
        description="The bucket keys, in order.", examples=[["current", "1_30", "31_60", "61_90", "over_90"]]
    )
    items: list[ReceivablesRow] = Field(description="By tenant and currency.")
    totals: list[ReceivablesTotal] = Field(description="Per currency.")


class BreachRiskRow(Answer):
    """A running contract and whether the market makes it cheaper for the tenant to break than to keep."""

    contract_id: str = Field(description="The contract.", examples=["c-acme-1"])
    tenant_id: str = Field(description="Its tenant.", examples=["acme"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    term: Literal["closed", "open"] = Field(
        description="closed (take-or-pay, a penalty to break) or open (terminable with notice)."
    )
    closed_end: str = Field(description="End of the closed term (UTC).", examples=["2027-08-31T16:00:00Z"])
    term_end: str = Field(description="End of the whole term (UTC).", examples=["2028-08-31T16:00:00Z"])
    rmv: str = money("Recurring monthly value at as_of.", "7200.00")
    remaining_closed_value: str = money(
        "RMV prorated from as_of to the end of the closed term, as a termination computes it.", "64486.09"
    )
    market_value: str | None = money("The same capacity at market over the same stretch.", "42990.73", default=...)
    drop: str | None = Field(description="1 − market value ÷ contract value, 4 places.", examples=["0.3333"])
    penalty: str = money("The termination quote at as_of, before tax.", "12897.22")
    saving_if_broken: str | None = money("remaining_closed_value × drop − penalty.", "8598.14", default=...)
    break_even_rate: str | None = Field(description="The penalty rate at which the saving is 0.", examples=["0.3333"])
    at_risk: bool = Field(description="saving_if_broken > 0.")
    notice_cost: str = money("Open term: the notice in lieu of ending it at as_of.", "0.00")
    markets: list[str] = Field(
        description="The market observation used for each capacity item.",
        examples=[["i-m: 4800.00 CNY/machine_month RTX-4090 (quote, 2026-09-04T16:00:00Z)"]],
    )
    missing_market: list[str] = Field(
        description="Capacity items with no market: no drop is guessed for them.", examples=[[]]
    )
    note: str = Field(
        description="The verdict in words.", examples=["breaking now saves 8598.14 CNY after the penalty"]
    )


class BreachRisk(Single):
    as_of: str = Field(description="The instant evaluated (UTC).", examples=["2026-12-02T00:00:00Z"])
    items: list[BreachRiskRow] = Field(description="Largest saving first.")
    at_risk: int = Field(description="How many contracts are at risk.", examples=[2])
    saving_at_risk: dict[str, str] = Field(
        description="Per currency: Σ saving_if_broken of the contracts at risk.", examples=[{"CNY": "22956.28"}]
    )


class MarginRow(Answer):
    """One payable item: what the capacity cost, what it was resold for, and the exposure left."""

    supplier_id: str = Field(description="Who sells it to us.", examples=["sup-hz"])
    contract_id: str = Field(description="The payable contract.", examples=["c-buy-hz"])
    item_id: str = Field(description="The payable item.", examples=["i-1"])
    gpu_model: str | None = Field(description="Its GPU model.", examples=["H100-SXM"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    cost: str = money("What the supplier bills for the item in the period.", "40000.00")
    revenue: str = money("What the tenant items it supplies are billed in the period.", "52000.00")
    margin: str = money("revenue − cost.", "12000.00")
    margin_rate: str | None = Field(description="margin ÷ revenue; null without revenue.", examples=["0.2308"])
    machines_bought: str = Field(description="Machines bought under the item.", examples=["10"])
    machines_resold: str = Field(description="Machines of it resold to tenants.", examples=["8"])
    exposure: str = money(
        "Remaining closed cost − remaining closed value of the tenant items it supplies: owed even if every "
        "tenant left.",
        "120000.00",
    )
    supplies: list[str] = Field(
        description="The tenant items supplied, as <contract>/<item>.", examples=[["c-acme-1/i-1"]]
    )


class MarginTotals(Answer):
    cost: str = money("Σ cost.", "40000.00")
    revenue: str = money("Σ revenue.", "52000.00")
    margin: str = money("Σ margin.", "12000.00")
    exposure: str = money("Σ exposure.", "120000.00")


class Margin(Answer):
    period: str = Field(description="The month, YYYY-MM.", examples=["2026-10"])
    items: list[MarginRow] = Field(description="One row per payable item.")
    totals: dict[str, MarginTotals] = Field(description="Per currency.")


class UtilizationFigures(Answer):
    capacity: str | None = Field(
        description=f"In the fleet (first report to retirement): {CARD_HOURS}; null for a tenant row.",
        examples=["5952.000000"],
    )
    reported: str | None = Field(description=f"Covered by a gpu.status: {CARD_HOURS}.", examples=["5904.000000"])
    down: str | None = Field(
        description=f"Reported down (XID, off the bus, driver): {CARD_HOURS}.", examples=["24.000000"]
    )
    lit: str | None = Field(description=f"reported − down: {CARD_HOURS}.", examples=["5880.000000"])
    allocated: str | None = Field(description=f"Sold: the union of gpu.usage: {CARD_HOURS}.", examples=["3675.000000"])
    busy: str | None = Field(description=f"Σ utilisation × allocated seconds: {CARD_HOURS}.", examples=["2278.500000"])
    dark: str | None = Field(description=f"capacity − reported (silent): {CARD_HOURS}.", examples=["48.000000"])
    lit_rate: str | None = Field(description="lit ÷ capacity (4 places); null when capacity is 0.", examples=["0.9879"])
    allocation_rate: str | None = Field(description="allocated ÷ lit; null when nothing was lit.", examples=["0.6250"])
    busy_rate: str | None = Field(description="busy ÷ allocated; null when nothing was allocated.", examples=["0.6200"])
    idle_value: str | None = Field(
        description="(lit − allocated) card-hours × the model's list price per card-hour "
        "(CNY); null when a model of the row has no list price.",
        examples=["27562.50"],
    )


class UtilizationRow(UtilizationFigures):
    group: str = Field(description="The row's key as text.", examples=["H100-SXM"])
    gpu_model: str | None = Field(None, description="With group_by=model.", examples=["H100-SXM"])
    node: str | None = Field(None, description="With group_by=node.", examples=["gpu-07"])
    tenant_id: str | None = Field(
        None, description="With group_by=tenant (allocated and busy only).", examples=["acme"]
    )
    day: str | None = Field(None, description="With group_by=day: the local date, YYYY-MM-DD.", examples=["2026-10-01"])


class Utilization(Answer):
    period: str = Field(description="The month, YYYY-MM.", examples=["2026-10"])
    timezone: str = Field(description="The zone months and days are cut in.", examples=["Asia/Shanghai"])
    group_by: Literal["model", "node", "tenant", "day"] = Field(description="What a row is.")
    period_start: str = Field(description="First instant of the month (UTC).", examples=["2026-09-30T16:00:00Z"])
    period_end: str = Field(description="First instant after it (UTC).", examples=["2026-10-31T16:00:00Z"])
    unit: str = Field(description="Of the figures.", examples=["card-hour"])
    currency: str = Field(description="Of idle_value.", examples=["CNY"])
    rows: list[UtilizationRow] = Field(description="One per group.")
    total: UtilizationFigures = Field(description="The whole fleet (within the node / model filter).")
    unpriced_models: list[str] = Field(
        description="Models without a list price (their idle value is unknown).", examples=[["L40S"]]
    )
