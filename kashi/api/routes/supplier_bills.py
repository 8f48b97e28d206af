"""Supplier bills (SPEC §17): what suppliers bill us for capacity bought, numbered KP-…; finance and
operator keys read them; the export of every supplier-bill line of a month."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import supplier_bills
from kashi.api.deps import BillingReader, ConnDep
from kashi.api.report_media import render_report
from kashi.errors import ValidationFailed

router = APIRouter(tags=["supplier-bills"])


@router.get("/supplier-bills")
def list_bills(
    conn: ConnDep,
    principal: BillingReader,
    supplier_id: str | None = None,
    period: str | None = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    """Bills by number, each the invoice JSON plus `supplier_id` (operator, finance)."""
    return supplier_bills.list_bills(conn, supplier_id=supplier_id, period=period, after=cursor, limit=limit)


@router.get("/supplier-bills/{bill_id}")
def get_bill(bill_id: str, conn: ConnDep, principal: BillingReader) -> dict:
    """One supplier bill: the invoice JSON plus `supplier_id` (operator, finance)."""
    return supplier_bills.bill_json(conn, bill_id)


@router.get("/exports/supplier-bill-lines")
def supplier_bill_lines(conn: ConnDep, principal: BillingReader, period: str, format: str = "csv"):
    """Every supplier-bill line of a month, all suppliers, with tax (CSV UTF-8 with BOM, or xlsx)."""
    month = Period.parse(period)
    if format not in ("csv", "xlsx"):
        raise ValidationFailed.of("format", "must be csv or xlsx")
    rows = [list(row) for row in supplier_bills.export_lines(conn, month)]
    body, media = render_report(
        format, "Supplier bill lines", supplier_bills.EXPORT_COLUMNS, rows, money=("amount", "tax", "total")
    )
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="supplier-bill-lines-{month}.{format}"'},
    )
