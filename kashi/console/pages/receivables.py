"""Receivables: what each tenant owes by days past due (the aged-receivables report the API
answers), the invoices overdue now, and the report's CSV (finance and operator)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from billing.services import invoices as invoice_store
from billing.services import receivables, tenants
from kashi.api.deps import ConnDep
from kashi.api.routes.receivables import report_file
from kashi.console.format import overdue_of, pager
from kashi.console.web import ConsoleRoute, Staff, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 25
AsOf = Annotated[date | None, Query(description="The day to age at, YYYY-MM-DD; default today.")]


def _as_of(request: Request, as_of: date | None) -> date:
    return as_of or datetime.now(UTC).astimezone(ZoneInfo(request.app.state.settings.default_timezone)).date()


@router.get("/console/receivables")
def receivables_page(
    request: Request, viewer: Staff, conn: ConnDep, as_of: AsOf = None, cursor: str = "", trail: str = ""
):
    day = _as_of(request, as_of)
    report = receivables.report(conn, day)
    overdue = invoice_store.list_invoices(
        conn, tenant_id=None, period=None, after=cursor or None, limit=PAGE, status="overdue"
    )
    names = {t: tenants.get(conn, t)["name"] for t in {i["tenant_id"] for i in overdue}}
    links = pager(
        "/console/receivables",
        {"as_of": as_of.isoformat() if as_of else None},
        cursor=cursor,
        next_cursor=overdue[-1]["number"] if len(overdue) == PAGE else None,
        trail=trail,
    )
    return render(
        request,
        "receivables.html",
        viewer=viewer,
        title="Receivables",
        report=report,
        as_of=day.isoformat(),
        overdue=overdue,
        overdue_of=lambda row: overdue_of(row, report["buckets"]),
        names=names,
        pager=links,
        tz=request.app.state.settings.default_timezone,
        now=datetime.now(UTC).isoformat(),
    )


@router.get("/console/receivables.csv")
def receivables_csv(request: Request, viewer: Staff, conn: ConnDep, as_of: AsOf = None):
    """The same CSV as ``GET /v1/reports/receivables?format=csv``."""
    return report_file(receivables.report(conn, _as_of(request, as_of)), "csv")
