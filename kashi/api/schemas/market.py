"""Market rents: what capacity rents for, observed by operators; breach risk reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, Single, example, instant

UNITS = (
    "machine_month: one machine for a billing month; card_hour: one card for an hour; "
    "p_year: one PFLOPS (FP16 dense) for a year."
)


class MarketRentCreate(Body):
    """One observation of the market: what a GPU model rents for, in one of three units."""

    model_config = example(
        gpu_model="RTX-4090",
        unit="machine_month",
        price="4800.00",
        currency="CNY",
        observed_at="2027-01-05T00:00:00+08:00",
        source="broker quote, 10 × 8×RTX-4090, Hangzhou",
    )

    gpu_model: str = Field(description="A model of the GPU catalog.", examples=["RTX-4090"])
    unit: Literal["machine_month", "card_hour", "p_year"] = Field(description=UNITS)
    price: str = Field(
        description='Price per unit as a decimal string ("4800.00"); no floats.',
        examples=["4800.00"],
        pattern=r"^\d+(\.\d+)?$",
    )
    currency: str = Field(description="ISO 4217 code. Only contracts in this currency use it.", examples=["CNY"])
    observed_at: str = instant("When the price was seen.", "2027-01-05T00:00:00+08:00")
    source: str = Field(
        description="Where the price comes from (a quote, a listing, a broker).", examples=["broker quote, Hangzhou"]
    )
    cards_per_machine: int | None = Field(
        None, description="Cards in the machine a machine_month price is for; 8 when absent.", examples=[8]
    )


class MarketRent(Answer):
    """A market observation as stored."""

    gpu_model: str = Field(description="The GPU model.", examples=["RTX-4090"])
    unit: Literal["machine_month", "card_hour", "p_year"] = Field(description=UNITS)
    price: str = Field(description="Price per unit, a decimal string.", examples=["4800.00"])
    currency: str = Field(description="ISO 4217 code.", examples=["CNY"])
    cards_per_machine: int = Field(description="Cards in the machine a machine_month price is for.", examples=[8])
    observed_at: str = Field(description="When the price was seen (UTC).", examples=["2027-01-04T16:00:00Z"])
    source: str = Field(description="Where the price comes from.", examples=["broker quote, Hangzhou"])
    recorded_at: str = Field(description="When it was recorded (UTC).", examples=["2027-01-05T02:00:00Z"])
    version: int = Field(description="The observation's place on its model's stream.", examples=[1])


class RecordedMarketRent(MarketRent):
    at_risk: list[str] = Field(
        description="The contracts this observation put at risk of breach (each announced once, by webhook "
        "contract.at_risk).",
        examples=[["c-acme-1"]],
    )


class MarketRents(Single):
    items: list[MarketRent] = Field(description="Observations, newest first.")
