"""The broker's margin (SPEC §17): per payable item, cost, revenue, margin, machines, exposure.
Finance and operator keys read it; tenant keys may not (403)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import margin
from kashi.api.deps import BillingReader, ConnDep
from kashi.api.report_media import render_report

router = APIRouter(tags=["reports"])


@router.get("/reports/margin")
def margin_report(conn: ConnDep, principal: BillingReader, period: str, format: str = "json"):
    """Margin of the month per payable item: what the capacity cost, what it was resold for, and the
    exposure left (json, csv or xlsx)."""
    document = margin.report_json(conn, Period.parse(period))
    if format == "json":
        return document
    return report_file(document, format)


def report_file(document: dict, format: str) -> Response:
    """The margin report as a CSV or xlsx download (the API's and the console's)."""
    period = document["period"]
    body, media = render_report(
        format,
        "Margin",
        margin.COLUMNS,
        margin.table(document),
        money=("cost", "revenue", "margin", "exposure"),
        rates=("margin_rate",),
        preamble=[f"Margin of {period}"],
    )
    disposition = f'attachment; filename="margin-{period}.{format}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
