"""Suppliers (SPEC §17): the centres a broker buys capacity from; operators create, billing reads."""

from __future__ import annotations

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from billing.core.periods import Period
from billing.services import supplier_bills, suppliers
from kashi.api.deps import BillingReader, ConnDep, Operator
from kashi.api.report_media import render_report

router = APIRouter(tags=["suppliers"])


@router.post("/suppliers", status_code=201)
def create_supplier(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    """Operators only. Every bad field is named at once (422); an id already taken is 409."""
    return suppliers.create(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/suppliers")
def list_suppliers(
    conn: ConnDep, principal: BillingReader, cursor: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> dict:
    """Suppliers ordered by id (operator, finance)."""
    return suppliers.list_suppliers(conn, cursor=cursor, limit=limit)


@router.get("/suppliers/{supplier_id}")
def get_supplier(supplier_id: str, conn: ConnDep, principal: BillingReader) -> dict:
    """One supplier (operator, finance); an unknown id is 404."""
    return suppliers.get(conn, supplier_id)


@router.get("/suppliers/{supplier_id}/statements/{period}")
def supplier_statement(supplier_id: str, period: str, conn: ConnDep, principal: BillingReader, format: str = "json"):
    """What we owe the supplier by month: opening balance, the month's bills, closing balance (json,
    csv or xlsx; operator, finance)."""
    statement = supplier_bills.statement_json(conn, supplier_id, Period.parse(period))
    if format == "json":
        return statement
    columns = ("currency", "kind", "number", "period", "issued_at", "amount", "balance")
    rows = []
    for page in statement["currencies"]:
        rows.append([page["currency"], "opening_balance", "", "", "", "", page["opening_balance"]])
        for bill in page["bills"]:
            rows.append(
                [page["currency"], "bill", bill["number"], bill["period"], bill["issued_at"], bill["total"], ""]
            )
        rows.append([page["currency"], "closing_balance", "", "", "", "", page["closing_balance"]])
    body, media = render_report(
        format,
        "Supplier statement",
        columns,
        rows,
        money=("amount", "balance"),
        preamble=[f"Statement of supplier {supplier_id} for {period}"],
    )
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="supplier-statement-{supplier_id}-{period}.{format}"'},
    )
