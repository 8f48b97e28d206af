"""Breach risk (SPEC §16): which contracts a falling market makes cheaper to break than to keep.
Finance and operator keys read it; tenant keys may not (403)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from billing.services import risk
from kashi.api.deps import BillingReader, ConnDep, offset_restored
from kashi.api.report_media import render_report

router = APIRouter(tags=["reports"])


@router.get("/reports/breach-risk")
def breach_risk(conn: ConnDep, principal: BillingReader, as_of: str | None = None, format: str = "json"):
    """Each running contract at `as_of` (default now) with a market for its capacity items: what breaking
    it would save the tenant after the penalty, largest saving first (json, csv or xlsx; operator, finance)."""
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
