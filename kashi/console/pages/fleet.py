"""Fleet utilisation: where a month's card-hours went (allocated, lit but idle, down, dark) per GPU
model, node, tenant or day, from the same report as ``GET /v1/reports/utilization``, drawn as a
stacked SVG chart with its table one click away; and the cards idle or down now (finance and
operator)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from billing.core.periods import Period, period_of
from billing.services import utilization
from kashi.api.deps import ConnDep
from kashi.api.routes.utilization import report_csv
from kashi.console.charts import stacked_bar_chart
from kashi.console.web import ConsoleRoute, Staff, render
from metering import fleet

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
GroupParam = Annotated[Literal["model", "node", "tenant", "day"], Query()]
NOW_LISTED = 50
FLEET_SERIES = [("allocated", "#1d5fa8"), ("idle", "#e0a100"), ("down", "#a4262c"), ("dark", "#9aa5b1")]
TENANT_SERIES = [("busy", "#1d5fa8"), ("allocated, not busy", "#7fa8d6")]
GROUP_LABELS = {"model": "GPU model", "node": "Node", "tenant": "Tenant", "day": "Day"}


def _hours(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


def idle_hours(figures: dict) -> Decimal | None:
    """Lit card-hours nobody was allocated (lit − allocated, never below 0), the hours ``idle_value``
    prices; None for a tenant's row, which has no lit hours."""
    if figures.get("lit") is None:
        return None
    return max(Decimal(0), _hours(figures["lit"]) - _hours(figures["allocated"]))


def chart_points(report: dict) -> tuple[list[tuple[str, list[Decimal]]], list[tuple[str, str]]]:
    """The bars of a report: per row, its capacity split into allocated, idle, down and dark
    card-hours (a tenant's row: busy and allocated-not-busy), and the series that name them."""
    tenant = report["group_by"] == "tenant"
    points = []
    for row in report["rows"]:
        label = row["group"][5:] if report["group_by"] == "day" else row["group"]
        if tenant:
            busy, allocated = _hours(row["busy"]), _hours(row["allocated"])
            points.append((label, [busy, max(Decimal(0), allocated - busy)]))
        else:
            points.append(
                (label, [_hours(row["allocated"]), idle_hours(row), _hours(row["down"]), _hours(row["dark"])])
            )
    return points, TENANT_SERIES if tenant else FLEET_SERIES


def _month(request: Request, period: str | None) -> Period:
    tz = request.app.state.settings.default_timezone
    return Period.parse(period) if period else period_of(datetime.now(UTC), tz)


@router.get("/console/fleet")
def fleet_page(
    request: Request, viewer: Staff, conn: ConnDep, period: MonthParam = None, group_by: GroupParam = "model"
):
    tz = request.app.state.settings.default_timezone
    month = _month(request, period)
    report = utilization.report(conn, month, group_by, tz=tz)
    points, series = chart_points(report)
    idle_now = fleet.list_gpus(conn, state="idle", limit=NOW_LISTED, include_retired=False)
    down_now = fleet.list_gpus(conn, state="down", limit=NOW_LISTED, include_retired=False)
    return render(
        request,
        "fleet.html",
        viewer=viewer,
        title="Fleet utilisation",
        report=report,
        total=report["total"],
        idle_total=idle_hours(report["total"]),
        idle_hours=idle_hours,
        month=str(month),
        prev_month=str(month.prev()),
        next_month=str(month.next()),
        group_by=group_by,
        groups=GROUP_LABELS,
        chart=stacked_bar_chart(
            points, series, title=f"Card-hours per {GROUP_LABELS[group_by].lower()}, {month}", unit="card-hours"
        ),
        has_hours=any(sum(v for v in values if v) for _, values in points),
        idle_now=idle_now,
        down_now=down_now,
        listed=NOW_LISTED,
        tz=tz,
    )


@router.get("/console/fleet.csv")
def fleet_csv(
    request: Request, viewer: Staff, conn: ConnDep, period: MonthParam = None, group_by: GroupParam = "model"
):
    """The same CSV as ``GET /v1/reports/utilization?format=csv``."""
    tz = request.app.state.settings.default_timezone
    return report_csv(utilization.report(conn, _month(request, period), group_by, tz=tz))
