"""The fleet utilisation report (SPEC §15): capacity, lit, allocated, busy, down and dark card-hours
of a month, per model, node, tenant or day, as JSON, CSV, xlsx or a PNG chart (operator, finance)."""

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import utilization
from kashi.api.deps import BillingReader, ConnDep
from kashi.api.routes.statements import MEDIA

router = APIRouter(tags=["reports"])


@router.get("/reports/utilization", response_model=None)
def utilization_report(
    conn: ConnDep,
    _: BillingReader,
    period: Annotated[str, Query(description="The month, YYYY-MM, in `tz`.", examples=["2026-10"])],
    group_by: Annotated[
        Literal["model", "node", "tenant", "day"],
        Query(description="Rows per GPU model, node, tenant (allocated and busy only) or local day."),
    ] = "model",
    format: Annotated[
        Literal["json", "csv", "xlsx", "png"],
        Query(
            description="json; csv (UTF-8 with BOM); xlsx (a sheet per grouping and a chart sheet); png (a chart: "
            "bars per model when grouped by model, else per day, and a node × day heat-map)."
        ),
    ] = "json",
    tz: Annotated[
        str, Query(description="The operator's IANA timezone: months and days are cut in it.")
    ] = utilization.DEFAULT_TZ,
    node: Annotated[str | None, Query(description="Only this node.")] = None,
    gpu_model: Annotated[str | None, Query(description="Only this GPU model.")] = None,
):
    """Card-hours of capacity, reported, down, lit, allocated, busy and dark, with lit_rate,
    allocation_rate, busy_rate (null when the denominator is 0) and idle_value (CNY; null for a model
    without a list price), computed from hourly rollups."""
    month = Period.parse(period)
    filename = f"utilization-{month}-{group_by}.{format}"
    if format in ("json", "csv"):
        report = utilization.report(conn, month, group_by, tz=tz, node=node, gpu_model=gpu_model)
        if format == "json":
            return report
        return report_csv(report)
    pack = utilization.pack(conn, month, tz=tz)
    if format == "xlsx":
        from billing.documents.utilization_tables import write_workbook

        out = io.BytesIO()
        write_workbook(out, pack)
        return Response(
            out.getvalue(),
            media_type=MEDIA["xlsx"],
            headers={"Content-Disposition": f'attachment; filename="utilization-{month}.xlsx"'},
        )
    from billing.documents.utilization_png import render

    return Response(
        render(pack, "model" if group_by == "model" else "day"),
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def report_csv(report: dict) -> Response:
    """One grouping of the report as a CSV download (UTF-8 with BOM; the API's and the console's)."""
    from billing.documents.utilization_tables import to_csv

    filename = f"utilization-{report['period']}-{report['group_by']}.csv"
    return Response(
        to_csv(report), media_type=MEDIA["csv"], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
