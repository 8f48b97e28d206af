"""A contract: its terms and items as they stand, its event timeline, and a termination-quote
calculator (the same quote service as ``GET /v1/contracts/{id}/termination-quote``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billing.services import contracts as contracts_service
from billing.services import suppliers, tenants
from kashi.api.deps import ConnDep
from kashi.api.errors import STATUS
from kashi.console.web import ConsoleRoute, Staff, render
from kashi.errors import KashiError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def describe(event: dict) -> str:
    """One line for a person about a contract event."""
    data = event["data"]
    if event["type"] == "ContractSigned":
        items = data.get("items", [])
        return (
            f"Signed with {len(items)} item{'s' if len(items) != 1 else ''}: {data.get('closed_months')} months "
            f"closed + {data.get('open_months')} open, penalty rate {data.get('penalty', {}).get('rate', '—')}"
        )
    if event["type"] == "ContractAmended":
        changes = ", ".join(
            f"{k.replace('_', ' ')} → {v}" for k, v in (data.get("changes") or {}).items() if v is not None
        )
        return f"Item {data.get('item_id')} amended: {changes}"
    if event["type"] == "ContractTerminated":
        return "Terminated"
    return event["type"]


@router.get("/console/contracts/{contract_id}")
def contract_page(
    request: Request, contract_id: str, viewer: Staff, conn: ConnDep, effective_at: str = "", notice_given_at: str = ""
):
    contract = contracts_service.get(conn, contract_id)
    supplier = suppliers.get(conn, contract["supplier_id"]) if contract.get("supplier_id") else None
    tenant = supplier or tenants.get(conn, contract["tenant_id"])
    timeline = contracts_service.events(conn, contract_id)["items"]
    for event in timeline:
        event["summary"] = describe(event)
    quote = quote_error = None
    if effective_at:
        try:
            quote = contracts_service.termination_quote_json(conn, contract_id, effective_at, notice_given_at or None)
        except KashiError as exc:  # shown next to the form, with the API's message
            quote_error = {"code": exc.code, "message": exc.message, "details": exc.details}
    return render(
        request,
        "contract.html",
        viewer=viewer,
        title=f"Contract {contract_id}",
        contract=contract,
        tenant=tenant,
        supplier=supplier,
        tz=tenant["timezone"],
        timeline=timeline[::-1],
        quote=quote,
        quote_error=quote_error,
        effective_at=effective_at,
        notice_given_at=notice_given_at,
        status_code=STATUS.get(quote_error["code"], 400) if quote_error else 200,
    )
