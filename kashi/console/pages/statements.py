"""Statements of account: a tenant's month (opening balance, documents, closing balance) with its
PDF, CSV and xlsx; the portal lists its own months."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from billing.core.periods import Period, period_of
from billing.services import statements, tenants
from kashi.api.deps import ConnDep, ensure_tenant_visible
from kashi.api.routes.statements import MEDIA
from kashi.console.web import AnyViewer, ConsoleRoute, render
from kashi.errors import ValidationFailed

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MONTHS = 12


@router.get("/console/statements")
def my_statements(request: Request, viewer: AnyViewer, conn: ConnDep):
    """The portal's list of months; operator and finance find statements from a tenant's page."""
    if not viewer.tenant_scope:
        return RedirectResponse("/console/tenants", status_code=303)
    tenant = tenants.get(conn, viewer.tenant_scope)
    month = period_of(datetime.now(UTC), tenant["timezone"])
    months = []
    for _ in range(MONTHS):
        months.append(str(month))
        month = month.prev()
    return render(
        request,
        "statements.html",
        viewer=viewer,
        title="Statements",
        tenant=tenant,
        months=months,
        tz=tenant["timezone"],
    )


@router.get("/console/tenants/{tenant_id}/statements/{period}.{format}")
def statement_document(tenant_id: str, period: str, format: str, viewer: AnyViewer, conn: ConnDep) -> Response:
    ensure_tenant_visible(viewer.principal, tenant_id)
    if format not in MEDIA:
        raise ValidationFailed.of("format", "must be csv, xlsx or pdf")
    statement = statements.statement_json(conn, tenant_id, Period.parse(period))
    disposition = "inline" if format == "pdf" else "attachment"
    filename = f"statement-{tenant_id}-{period}.{format}"
    return Response(
        statements.render(statement, format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


@router.get("/console/tenants/{tenant_id}/statements/{period}")
def statement_page(request: Request, tenant_id: str, period: str, viewer: AnyViewer, conn: ConnDep):
    ensure_tenant_visible(viewer.principal, tenant_id)
    month = Period.parse(period)
    statement = statements.statement_json(conn, tenant_id, month)
    return render(
        request,
        "statement.html",
        viewer=viewer,
        title=f"Statement {period}",
        statement=statement,
        tz=statement["timezone"],
        prev_month=str(month.prev()),
        next_month=str(month.next()),
    )
