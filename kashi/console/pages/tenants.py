"""Tenants: search, and a tenant's profile (contracts, invoices, balance, usage chart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from billing.core.periods import Period, period_of
from billing.services import contracts as contracts_service
from billing.services import invoices as invoice_store
from billing.services import overview, payments, tenant_search, tenants
from kashi.api.deps import ConnDep
from kashi.console.format import pager
from kashi.console.pages.overview import usage_chart
from kashi.console.web import ConsoleRoute, Staff, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 25


@router.get("/console/tenants")
def tenant_list(request: Request, viewer: Staff, conn: ConnDep, q: str = "", cursor: str = "", trail: str = ""):
    found = tenant_search.search(conn, q, after=cursor or None, limit=PAGE)
    links = pager("/console/tenants", {"q": q}, cursor=cursor, next_cursor=found["next_cursor"], trail=trail)
    balances = {t["id"]: payments.balances(conn, t["id"]) for t in found["items"]}
    return render(
        request,
        "tenants.html",
        viewer=viewer,
        title="Tenants",
        q=q,
        tenants=found["items"],
        pager=links,
        balances=balances,
        total=tenant_search.count(conn),
    )


@router.get("/console/tenants/{tenant_id}")
def tenant_profile(
    request: Request,
    tenant_id: str,
    viewer: Staff,
    conn: ConnDep,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
):
    tenant = tenants.get(conn, tenant_id)
    tz = tenant["timezone"]
    month = Period.parse(period) if period else period_of(datetime.now(UTC), tz)
    days = overview.card_hours_by_day(conn, month, tz, tenant_id=tenant_id)
    contracts = contracts_service.list_contracts(conn, tenant_id, limit=200)["items"]
    for contract in contracts:
        contract["status"] = contracts_service.get(conn, contract["id"])["status"]
    invoices = invoice_store.list_invoices(conn, tenant_id=tenant_id, period=None, after=None, limit=500)[::-1]
    return render(
        request,
        "tenant.html",
        viewer=viewer,
        title=tenant["name"],
        tenant=tenant,
        tz=tz,
        contracts=contracts,
        invoices=invoices,
        balances=payments.balances(conn, tenant_id),
        statement_month=str(period_of(datetime.now(UTC), tz).prev()),
        month=str(month),
        prev_month=str(month.prev()),
        next_month=str(month.next()),
        days=days,
        chart=usage_chart(days, f"Card-hours per day, {month}"),
        total_seconds=sum(d["card_seconds"] for d in days),
    )
