"""Market rents (SPEC §16): operators record observations of what capacity rents for; billing reads them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from billing.services import market, risk
from kashi.api.deps import BillingReader, ConnDep, Operator
from kashi.api.fields import Money, body_schema

router = APIRouter(tags=["market"])


class MarketRentIn(BaseModel):
    """One observation of the market: what a GPU model rents for, in one of three units."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "gpu_model": "RTX-4090",
                    "unit": "machine_month",
                    "price": "4800.00",
                    "currency": "CNY",
                    "observed_at": "2027-01-05T00:00:00+08:00",
                    "source": "broker quote, 10 × 8×RTX-4090, Hangzhou",
                }
            ]
        },
    )

    gpu_model: StrictStr = Field(description="A model of the GPU catalog, e.g. RTX-4090.")
    unit: Literal["machine_month", "card_hour", "p_year"] = Field(
        description="machine_month: one machine for a billing month; card_hour: one card for an hour; "
        "p_year: one PFLOPS (FP16 dense) for a year."
    )
    price: Money = Field(description='Price per unit as a decimal string ("4800.00"); no floats.')
    currency: StrictStr = Field(description="ISO 4217 code, e.g. CNY. Only contracts in this currency use it.")
    observed_at: StrictStr = Field(description="When the price was seen, RFC 3339 with an offset.")
    source: StrictStr = Field(description="Where the price comes from (a quote, a listing, a broker).")
    cards_per_machine: StrictInt | None = Field(
        None, description="Cards in the machine a machine_month price is for; 8 when absent."
    )


class MarketRentOut(BaseModel):
    gpu_model: str
    unit: str
    price: str = Field(description="Decimal string.")
    currency: str
    cards_per_machine: int
    observed_at: str
    source: str
    recorded_at: str
    version: int = Field(description="The observation's place on its model's stream.")
    at_risk: list[str] | None = Field(
        None, description="On recording: the contracts this observation put at risk of breach (each announced once)."
    )


class MarketRents(BaseModel):
    items: list[MarketRentOut]
    next_cursor: str | None = None


@router.post(
    "/market/rents",
    status_code=201,
    response_model=MarketRentOut,
    response_model_exclude_none=True,
    openapi_extra=body_schema(MarketRentIn),
)
def record_rent(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    """Every bad field is named at once (422). Recording evaluates breach risk at once."""
    return risk.record_rent(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/market/rents", response_model=MarketRents, response_model_exclude_none=True)
def list_rents(conn: ConnDep, principal: BillingReader, gpu_model: str | None = None) -> dict:
    """Market rent observations, newest first, optionally of one GPU model (operator, finance)."""
    return market.list_rents(conn, gpu_model)
