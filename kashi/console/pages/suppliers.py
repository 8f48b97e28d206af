"""Suppliers and margin: the broker's books. The margin of a month per payable item (the same
report as ``GET /v1/reports/margin``), the suppliers, and the bills they sent for the month
(``GET /v1/suppliers``, ``GET /v1/supplier-bills``); finance and operator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from billing.core.periods import Period, period_of
from billing.services import margin, supplier_bills, suppliers
from kashi.api.deps import ConnDep
from kashi.api.routes.margin import report_file
from kashi.console.format import pager
from kashi.console.web import ConsoleRoute, Staff, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
PAGE = 25


def _month(request: Request, period: str | None) -> Period:
    return Period.parse(period) if period else period_of(datetime.now(UTC), request.app.state.settings.default_timezone)


def supplied_contract(reference: str) -> str:
    """The contract of a ``<contract id>/<item id>`` reference (a margin row's ``supplies``)."""
    return reference.rsplit("/", 1)[0]


@router.get("/console/suppliers")
def suppliers_page(
    request: Request, viewer: Staff, conn: ConnDep, period: MonthParam = None, cursor: str = "", trail: str = ""
):
    month = _month(request, period)
    document = margin.report_json(conn, month)
    listing = suppliers.list_suppliers(conn, limit=1000)
    names = {s["id"]: s["name"] for s in listing["items"]}
    bills = supplier_bills.list_bills(conn, supplier_id=None, period=str(month), after=cursor or None, limit=PAGE)
    links = pager(
        "/console/suppliers", {"period": period}, cursor=cursor, next_cursor=bills["next_cursor"], trail=trail
    )
    return render(
        request,
        "suppliers.html",
        viewer=viewer,
        title="Suppliers & margin",
        month=str(month),
        prev_month=str(month.prev()),
        next_month=str(month.next()),
        report=document,
        suppliers=listing["items"],
        more_suppliers=listing["next_cursor"] is not None,
        names=names,
        bills=bills["items"],
        pager=links,
        supplied_contract=supplied_contract,
        tz=request.app.state.settings.default_timezone,
    )


@router.get("/console/margin.csv")
def margin_csv(request: Request, viewer: Staff, conn: ConnDep, period: MonthParam = None):
    """The same CSV as ``GET /v1/reports/margin?format=csv``."""
    return report_file(margin.report_json(conn, _month(request, period)), "csv")
