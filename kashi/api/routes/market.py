"""Market rents (SPEC §16): operators record observations of what capacity rents for; billing reads them."""

from __future__ import annotations

from fastapi import APIRouter, Body

from billing.services import market, risk
from kashi.api.deps import BillingReader, ConnDep, Operator

router = APIRouter(tags=["market"])


@router.post("/market/rents", status_code=201)
def record_rent(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    """Operators only. Every bad field is named at once (422). Recording evaluates breach risk at once:
    `at_risk` names the contracts this observation put at risk (each announced once, by webhook)."""
    return risk.record_rent(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/market/rents")
def list_rents(conn: ConnDep, principal: BillingReader, gpu_model: str | None = None) -> dict:
    """Market rent observations, newest first, optionally of one GPU model (operator, finance)."""
    return market.list_rents(conn, gpu_model)
