"""The overview: the month so far for operators and finance; a tenant's own summary in the portal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from billing.core.periods import period_of
from billing.services import invoices as invoice_store
from billing.services import overview, payments, receivables, risk, tenants, unrated, utilization
from kashi.api.deps import ConnDep
from kashi.console.charts import bar_chart
from kashi.console.format import overdue_of
from kashi.console.pages.fleet import idle_hours
from kashi.console.pages.risk import top_at_risk
from kashi.console.web import AnyViewer, ConsoleRoute, render
from metering import health

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
CHART_DAYS = 30
AT_RISK_SHOWN = 5


def usage_chart(days: list[dict], title: str):
    points = [(day["day"][5:].replace("-", "/"), Decimal(day["card_hours"])) for day in days]
    return bar_chart(points, title=title, unit="card-hours")


@router.get("/console")
def overview_page(request: Request, viewer: AnyViewer, conn: ConnDep):
    now = datetime.now(UTC)
    if viewer.tenant_scope:
        return _portal(request, viewer, conn, now)
    tz = request.app.state.settings.default_timezone
    figures = overview.month_so_far(conn, now, tz)
    month = period_of(now, tz)
    start, end = overview.last_days(now, tz, CHART_DAYS)
    days = overview.card_hours_per_day(conn, start, end, tz)
    unrated_items = [
        item for tenant in unrated.tenants_with_usage(conn) for item in unrated.unrated_usage(conn, tenant, str(month))
    ]
    ingest = health.counts(conn) if viewer.role == "operator" else None
    late = overview.late_usage(conn, limit=5)
    aging = receivables.report(conn, now.astimezone(ZoneInfo(tz)).date())
    breach = risk.report_json(conn, now)
    fleet_period, fleet_month = month, utilization.report(conn, month, "model", tz=tz)["total"]
    if not Decimal(fleet_month["lit"] or 0):  # the month's first hours: the last full month says more
        fleet_period = month.prev()
        fleet_month = utilization.report(conn, fleet_period, "model", tz=tz)["total"]
    return render(
        request,
        "overview.html",
        viewer=viewer,
        title="Overview",
        figures=figures,
        month=str(month),
        days=days,
        chart=usage_chart(days, f"Card-hours per day, last {CHART_DAYS} days"),
        tz=tz,
        chart_from=days[0]["day"],
        chart_to=days[-1]["day"],
        unrated_count=len(unrated_items),
        ingest=ingest,
        late=late,
        due=[
            {"currency": t["currency"], "due": t["total_due"], "overdue": overdue_of(t, aging["buckets"])}
            for t in aging["totals"]
        ],
        at_risk=top_at_risk(breach, AT_RISK_SHOWN),
        at_risk_count=breach["at_risk"],
        saving_at_risk=breach["saving_at_risk"],
        fleet=fleet_month,
        fleet_period=str(fleet_period),
        idle=idle_hours(fleet_month),
    )


def _portal(request: Request, viewer: AnyViewer, conn, now: datetime):
    tenant = tenants.get(conn, viewer.tenant_scope)
    month = period_of(now, tenant["timezone"])
    start, end = overview.last_days(now, tenant["timezone"], CHART_DAYS)
    days = overview.card_hours_per_day(conn, start, end, tenant["timezone"], tenant_id=tenant["id"])
    recent = invoice_store.list_invoices(conn, tenant_id=tenant["id"], period=None, after=None, limit=500)[-5:][::-1]
    return render(
        request,
        "portal.html",
        viewer=viewer,
        title=tenant["name"],
        tenant=tenant,
        month=str(month),
        days=days,
        chart=usage_chart(days, f"Card-hours per day, last {CHART_DAYS} days"),
        chart_from=days[0]["day"],
        chart_to=days[-1]["day"],
        tz=tenant["timezone"],
        balances=payments.balances(conn, tenant["id"]),
        invoices=recent,
        total_hours=sum(Decimal(d["card_hours"]) for d in days),
    )
