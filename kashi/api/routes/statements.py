"""Statements of account: one tenant, one month, as JSON, CSV, xlsx or PDF. A tenant key
reads its own only (404 for any other); finance and operator read all; agents none."""

from fastapi import APIRouter
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import statements
from kashi.api.deps import ConnDep, Reader, VisibleTenant
from kashi.errors import ValidationFailed

router = APIRouter(tags=["statements"])
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@router.get("/tenants/{tenant_id}/statements/{period}")
def get_statement(conn: ConnDep, principal: Reader, tenant_id: VisibleTenant, period: str, format: str = "json"):
    """One tenant, one month (YYYY-MM): opening balance, invoices, credit notes, payments, closing
    balance, as json, csv, xlsx or pdf. A tenant key reads its own only."""
    if format not in ("json", *MEDIA):
        raise ValidationFailed.of("format", "must be json, csv, xlsx or pdf")
    statement = statements.statement_json(conn, tenant_id, Period.parse(period))
    if format == "json":
        return statement
    filename = f"statement-{tenant_id}-{period}.{format}"
    disposition = "inline" if format == "pdf" else "attachment"
    return Response(
        statements.render(statement, format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )
