"""Receivables: aged receivables report, and the preview of an invoice a close would issue now."""

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import preview as previews
from billing.services import receivables
from kashi.api.deps import BillingReader, ConnDep, VisibleTenant

router = APIRouter(tags=["receivables"])
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/reports/receivables")
def receivables_report(
    conn: ConnDep,
    principal: BillingReader,
    as_of: Annotated[
        date | None,
        Query(description="The day (YYYY-MM-DD) to age at, its end in each tenant's timezone; default today (UTC)."),
    ] = None,
    format: Annotated[
        Literal["json", "csv", "xlsx"], Query(description="json, csv (UTF-8 with BOM) or xlsx.")
    ] = "json",
):
    """What each tenant owes per currency, by days past the due date: `current` (not yet due), `1_30`,
    `31_60`, `61_90`, `over_90`, with `total_due`, the unallocated `credit_balance`, and totals per currency."""
    as_of = as_of or datetime.now(UTC).date()
    report = receivables.report(conn, as_of)
    if format == "json":
        return report
    return report_file(report, format)


def report_file(report: dict, format: Literal["csv", "xlsx"]) -> Response:
    """The receivables report as a CSV (UTF-8 with BOM) or xlsx download (the API's and the console's)."""
    from billing.documents import csv, xlsx

    if format == "csv":
        body = b"".join(csv.chunks(receivables.REPORT_COLUMNS, receivables.report_rows(report)))
    else:
        body = xlsx.receivables_workbook(report, receivables.REPORT_COLUMNS, receivables.report_rows(report))
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="receivables-{report["as_of"]}.{format}"'},
    )


@router.get("/tenants/{tenant_id}/invoice-preview")
def invoice_preview(
    tenant_id: VisibleTenant,
    conn: ConnDep,
    period: Annotated[str, Query(description="The billing period, YYYY-MM: running or ended, not yet closed.")],
    currency: Annotated[str | None, Query(description="Which currency's invoice; default the tenant's.")] = None,
) -> dict:
    """What a close of `period` would issue now, as invoice JSON with `"number": null` and `"status": "draft"`.
    Nothing is written or numbered; usage persisted so far is included."""
    return previews.preview(conn, tenant_id, Period.parse(period), currency=currency or None)
