"""The fleet utilisation report (SPEC §15): capacity, lit, allocated, busy, down and dark card-hours
of a month, per model, node, tenant or day, as JSON, CSV, xlsx or a PNG chart (operator, finance)."""

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from billing.core.periods import Period
from billing.services import utilization
from kashi.api.deps import BillingReader, ConnDep
from kashi.api.routes.statements import MEDIA

router = APIRouter(tags=["reports"])

CARD_HOURS = "card-hours to 6 places, a decimal string"


class UtilizationFigures(BaseModel):
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
    gpu_model: str | None = Field(None, description="With group_by=model.")
    node: str | None = Field(None, description="With group_by=node.")
    tenant_id: str | None = Field(None, description="With group_by=tenant (allocated and busy only).")
    day: str | None = Field(None, description="With group_by=day: the local date, YYYY-MM-DD.")


class UtilizationReport(BaseModel):
    period: str = Field(examples=["2026-10"])
    timezone: str = Field(description="The zone months and days are cut in.", examples=["Asia/Shanghai"])
    group_by: str = Field(examples=["model"])
    period_start: str = Field(examples=["2026-09-30T16:00:00Z"])
    period_end: str = Field(examples=["2026-10-31T16:00:00Z"])
    unit: str = Field(examples=["card-hour"])
    currency: str = Field(description="Of idle_value.", examples=["CNY"])
    rows: list[UtilizationRow]
    total: UtilizationFigures = Field(description="The whole fleet (within the node / model filter).")
    unpriced_models: list[str] = Field(description="Models without a list price (their idle value is unknown).")


@router.get(
    "/reports/utilization",
    response_model=None,
    responses={
        200: {
            "description": "The report (JSON), or the CSV, xlsx or PNG document.",
            "content": {"application/json": {"schema": UtilizationReport.model_json_schema()}},
        }
    },
)
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
