"""Contracts: operators sign, amend and terminate; finance and the tenant read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response

from billing.services import contracts as contracts_service
from kashi.api.deps import ConnDep, Operator, Reader, VisibleContract, listing_scope, offset_restored
from kashi.errors import ValidationFailed

router = APIRouter(tags=["contracts"])

IfMatch = Annotated[str | None, Header(description='The version read, e.g. "3": 409 when the contract moved on')]


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ValidationFailed.of("If-Match", 'must be the contract version read, such as "3"')
    return int(value)


@router.post("/contracts", status_code=201)
def sign_contract(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    """Operators only. Recorded as the first event of the contract's stream; answers the contract as it
    stands now. Every bad field (nested ones as `items[0].unit_price`) is named in one 422."""
    return contracts_service.sign(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/contracts")
def list_contracts(
    conn: ConnDep,
    principal: Reader,
    tenant_id: str | None = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    supplier_id: str | None = None,
) -> dict:
    """Contracts by id. A tenant key lists its own; operators and finance may name a tenant or a
    supplier (payable contracts)."""
    tenant_id = listing_scope(principal, tenant_id)
    if principal.role == "tenant":
        supplier_id = None  # a tenant lists its own contracts only
    return contracts_service.list_contracts(conn, tenant_id, cursor=cursor, limit=limit, supplier_id=supplier_id)


@router.get("/contracts/{contract_id}")
def get_contract(
    conn: ConnDep, principal: Reader, contract_id: VisibleContract, response: Response, at: str | None = None
) -> dict:
    """The contract as it stands at `at` (default now). The ETag is its version: send it as If-Match
    to amend or terminate."""
    contract = contracts_service.get(conn, contract_id, offset_restored(at))
    response.headers["ETag"] = f'"{contract["version"]}"'
    return contract


@router.get("/contracts/{contract_id}/events")
def contract_events(conn: ConnDep, principal: Reader, contract_id: VisibleContract) -> dict:
    """Signed, amended, terminated: the contract at any instant is the fold of these events."""
    return contracts_service.events(conn, contract_id)


@router.post("/contracts/{contract_id}/amendments", status_code=201)
def amend_contract(
    contract_id: str, conn: ConnDep, principal: Operator, if_match: IfMatch = None, payload: dict = Body(...)
) -> dict:
    """Change an item's machines, capacity_p or committed_card_hours from `effective_at`; a reduction
    inside the closed term carries the penalty on the part removed. Not inside a closed period (409).
    If-Match: the version read (409 when it moved on)."""
    return contracts_service.amend(
        conn, contract_id, payload, actor=f"key:{principal.key_id}", expected_version=_version(if_match)
    )


@router.get("/contracts/{contract_id}/termination-quote")
def termination_quote(
    conn: ConnDep,
    principal: Reader,
    contract_id: VisibleContract,
    effective_at: str | None = None,
    notice_given_at: str | None = None,
) -> dict:
    """The penalty or notice in lieu a termination effective at `effective_at` would bill, without acting."""
    return contracts_service.termination_quote_json(
        conn, contract_id, offset_restored(effective_at), offset_restored(notice_given_at)
    )


@router.post("/contracts/{contract_id}/termination", status_code=201)
def terminate_contract(
    contract_id: str, conn: ConnDep, principal: Operator, if_match: IfMatch = None, payload: dict = Body(...)
) -> dict:
    """Fees end at `effective_at`. Inside the closed term: a penalty line; inside the open term: notice
    in lieu up to notice_given_at + notice_days. Billed at the next close; not inside a closed period (409)."""
    return contracts_service.terminate(
        conn, contract_id, payload, actor=f"key:{principal.key_id}", expected_version=_version(if_match)
    )
