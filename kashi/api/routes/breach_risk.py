"""Breach risk (SPEC §16): which contracts a falling market makes cheaper to break than to keep.
Finance and operator keys read it; tenant keys may not (403)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from billing.services import risk
from kashi.api.deps import BillingReader, ConnDep, offset_restored
from kashi.api.report_media import render_report

router = APIRouter(tags=["reports"])


class BreachRiskRow(BaseModel):
    contract_id: str
    tenant_id: str
    currency: str
    term: str = Field(description="closed (take-or-pay, a penalty to break) or open (terminable with notice).")
    closed_end: str
    term_end: str
    rmv: str = Field(description="Recurring monthly value at as_of.")
    remaining_closed_value: str = Field(
        description="RMV prorated from as_of to the end of the closed term, as a termination computes it."
    )
    market_value: str | None = Field(description="The same capacity at market over the same stretch.")
    drop: str | None = Field(description="1 − market value ÷ contract value, a decimal string ('0.30').")
    penalty: str = Field(description="The termination quote at as_of, before tax.")
    saving_if_broken: str | None = Field(description="remaining_closed_value × drop − penalty.")
    break_even_rate: str | None = Field(description="The penalty rate at which the saving is 0.")
    at_risk: bool = Field(description="saving_if_broken > 0.")
    notice_cost: str = Field(description="Open term: the notice in lieu of ending it at as_of.")
    markets: list[str] = Field(description="The market observation used for each capacity item.")
    missing_market: list[str] = Field(description="Capacity items with no market: no drop is guessed for them.")
    note: str


class BreachRiskReport(BaseModel):
    as_of: str
    items: list[BreachRiskRow] = Field(description="Largest saving first.")
    at_risk: int = Field(description="How many contracts are at risk.")
    saving_at_risk: dict[str, str] = Field(description="Σ saving_if_broken of the contracts at risk, per currency.")
    next_cursor: str | None = None


@router.get(
    "/reports/breach-risk",
    response_model=BreachRiskReport,
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}
    },
)
def breach_risk(conn: ConnDep, principal: BillingReader, as_of: str | None = None, format: str = "json"):
    """Each running contract at `as_of` (default now) with a market for its capacity items."""
    document = risk.report_json(conn, risk.parse_as_of(offset_restored(as_of)))
    if format == "json":
        return document
    return report_file(document, format)


def report_file(document: dict, format: str) -> Response:
    """The breach-risk report as a CSV or xlsx download (the API's and the console's)."""
    body, media = render_report(
        format,
        "Breach risk",
        risk.COLUMNS,
        risk.table(document),
        money=("rmv", "remaining_closed_value", "market_value", "penalty", "saving_if_broken", "notice_cost"),
        rates=("drop", "break_even_rate"),
        preamble=[f"Breach risk as of {document['as_of']}"],
    )
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="breach-risk.{format}"'}
    )
