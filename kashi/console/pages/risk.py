"""Breach risk: the contracts a falling market makes cheaper to break than to keep, ranked by the
saving, from the same report as ``GET /v1/reports/breach-risk``; each links to its contract page and
its termination quote at the same instant (finance and operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from billing.services import risk, tenants
from kashi.api.deps import ConnDep
from kashi.api.routes.breach_risk import report_file
from kashi.console.web import ConsoleRoute, Staff, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
AsOf = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="A day (midnight UTC+8); default now.")]


def top_at_risk(document: dict, n: int = 5) -> list[dict]:
    """The first ``n`` contracts at risk of a breach-risk report (it is sorted by saving, largest first)."""
    return [row for row in document["items"] if row["at_risk"]][:n]


@router.get("/console/breach-risk")
def breach_risk_page(request: Request, viewer: Staff, conn: ConnDep, as_of: AsOf = None, only: str = ""):
    document = risk.report_json(conn, risk.parse_as_of(as_of))
    rows = [r for r in document["items"] if r["at_risk"]] if only == "at_risk" else document["items"]
    names = {}
    for t in {r["tenant_id"] for r in rows}:
        names[t] = tenants.get(conn, t)["name"]
    return render(
        request,
        "breach_risk.html",
        viewer=viewer,
        title="Breach risk",
        report=document,
        rows=rows,
        names=names,
        as_of=as_of or "",
        quote_at=as_of or document["as_of"][:10],
        only=only,
        tz=request.app.state.settings.default_timezone,
    )


@router.get("/console/breach-risk.csv")
def breach_risk_csv(viewer: Staff, conn: ConnDep, as_of: AsOf = None):
    """The same CSV as ``GET /v1/reports/breach-risk?format=csv``."""
    return report_file(risk.report_json(conn, risk.parse_as_of(as_of)), "csv")
