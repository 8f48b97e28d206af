"""Usage: for operators and finance, what needs a look (unrated usage, late usage billed as
adjustments, conflicts, parked batches); for a tenant, its own card-hours and tokens by day."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from billing.core.periods import Period, period_of
from billing.services import overview, tenants, unrated
from billing.services.late_usage import late_usage
from kashi.api.deps import ConnDep, ensure_tenant_visible
from kashi.api.routes.usage import requeue_batch
from kashi.console.format import pager
from kashi.console.pages.overview import usage_chart
from kashi.console.web import AnyViewer, ConsoleRoute, OperatorOnly, render
from kashi.errors import KashiError, ValidationFailed
from metering import health, usage
from metering.receipts import view as receipt_view

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
DAY = r"^\d{4}-\d{2}-\d{2}$"
CONFLICTS_PAGE = 50


def _month(period: str | None, tz: str) -> Period:
    return Period.parse(period) if period else period_of(datetime.now(UTC), tz)


@router.get("/console/usage")
def usage_page(
    request: Request,
    viewer: AnyViewer,
    conn: ConnDep,
    period: MonthParam = None,
    tenant_id: str = "",
    cursor: str = "",
    trail: str = "",
    batch_id: Annotated[str, Query(max_length=200)] = "",
    requeued: str = "",
    requeue_error: Annotated[str, Query(max_length=500)] = "",
):
    if viewer.tenant_scope:
        return _tenant_usage(request, viewer, conn, period)
    tz = request.app.state.settings.default_timezone
    month = _month(period, tz)
    if tenant_id:
        tenants.get(conn, tenant_id)
    wanted = [tenant_id] if tenant_id else unrated.tenants_with_usage(conn)
    unrated_items = [item for t in wanted for item in unrated.unrated_usage(conn, t, str(month))]
    context = {
        "unrated": unrated_items,
        "late": overview.late_usage(conn, tenant_id=tenant_id or None, limit=100),
        # the same listing as GET /v1/usage/late: late usage no close has billed yet
        "waiting": late_usage(conn, tenant_id or None),
    }
    if viewer.role == "operator":  # conflicts and parked batches are the operator's (as in the API)
        after = int(cursor) if cursor.isdigit() else 0
        conflicts = health.conflicts(conn, after=after, limit=CONFLICTS_PAGE, tenant_id=tenant_id or None)
        next_cursor = str(conflicts[-1]["id"]) if len(conflicts) == CONFLICTS_PAGE else None
        receipt = receipt_view(conn, request.app.state.receipts, batch_id.strip()) if batch_id.strip() else None
        if receipt is not None:
            receipt.pop("key_id", None)
        context.update(
            requeued=requeued,
            requeue_error=requeue_error,
            batch_id=batch_id.strip(),
            receipt=receipt,
            conflicts=conflicts,
            parked=health.parked_batches(conn),
            conflicts_pager=pager(
                "/console/usage",
                {"period": period, "tenant_id": tenant_id},
                cursor=cursor,
                next_cursor=next_cursor,
                trail=trail,
            ),
        )
    return render(
        request,
        "usage.html",
        viewer=viewer,
        title="Usage",
        month=str(month),
        tz=tz,
        tenant_id=tenant_id,
        prev_month=str(month.prev()),
        next_month=str(month.next()),
        **context,
    )


def _tenant_usage(request: Request, viewer: AnyViewer, conn, period: str | None):
    tenant = tenants.get(conn, viewer.tenant_scope)
    tz = tenant["timezone"]
    month = _month(period, tz)
    days = overview.card_hours_by_day(conn, month, tz, tenant_id=tenant["id"])
    tokens = usage.token_usage(conn, tenant["id"], tz, month.start(tz), month.end(tz), "day")
    return render(
        request,
        "usage_tenant.html",
        viewer=viewer,
        title="Usage",
        tenant=tenant,
        tz=tz,
        month=str(month),
        prev_month=str(month.prev()),
        next_month=str(month.next()),
        days=days,
        tokens=tokens,
        waiting=late_usage(conn, tenant["id"]),
        chart=usage_chart(days, f"Card-hours per day, {month}"),
        total_seconds=sum(d["card_seconds"] for d in days),
    )


@router.post("/console/ingest/parked/{batch_id}/requeue")
def requeue_parked(request: Request, batch_id: str, viewer: OperatorOnly, conn: ConnDep):
    """The operator's requeue button: the API's own requeue, then the batch's receipt."""
    from urllib.parse import urlencode

    try:
        with conn.begin_nested():
            requeue_batch(request, conn, batch_id, actor=f"key:{viewer.principal.key_id}")
    except KashiError as exc:
        query = urlencode({"batch_id": batch_id, "requeue_error": exc.message})
        return RedirectResponse(f"/console/usage?{query}#h-receipt", status_code=303)
    query = urlencode({"batch_id": batch_id, "requeued": batch_id})
    return RedirectResponse(f"/console/usage?{query}#h-receipt", status_code=303)


@router.get("/console/usage/card-hours.csv")
def card_hours_csv(
    request: Request,
    viewer: AnyViewer,
    conn: ConnDep,
    period: MonthParam = None,
    tenant_id: str = "",
    from_: Annotated[str | None, Query(alias="from", pattern=DAY)] = None,
    to: Annotated[str | None, Query(pattern=DAY)] = None,
) -> Response:
    """The numbers behind a card-hours chart: one row per day of ``period``, or of the days
    ``from``..``to`` (inclusive), UTF-8 with BOM as the exports."""
    scope = viewer.tenant_scope or tenant_id or None
    if scope:
        ensure_tenant_visible(viewer.principal, scope)
        tz = tenants.get(conn, scope)["timezone"]
    else:
        tz = request.app.state.settings.default_timezone
    if from_ and to:
        zone = ZoneInfo(tz)
        try:
            start = datetime.combine(date.fromisoformat(from_), time(), zone)
            end = datetime.combine(date.fromisoformat(to) + timedelta(days=1), time(), zone)
        except ValueError:
            raise ValidationFailed.of("from", "from and to must be dates such as 2026-11-01") from None
        if end <= start:
            raise ValidationFailed.of("to", "must not be before from")
        days, label = overview.card_hours_per_day(conn, start, end, tz, tenant_id=scope), f"{from_}_{to}"
    else:
        month = _month(period, tz)
        days, label = overview.card_hours_by_day(conn, month, tz, tenant_id=scope), str(month)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "tenant_id", "card_seconds", "card_hours"])
    for day in days:
        writer.writerow([day["day"], scope or "all", day["card_seconds"], day["card_hours"]])
    name = f"card-hours-{scope or 'all'}-{label}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
