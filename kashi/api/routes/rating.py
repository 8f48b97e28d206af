"""Unrated usage: rollups that match no contract item yet, kept and shown, never dropped."""

from fastapi import APIRouter

from billing.services import unrated
from kashi.api.deps import ConnDep, Reader, listing_scope

router = APIRouter(tags=["rating"])


@router.get("/usage/unrated")
def unrated_usage(conn: ConnDep, principal: Reader, tenant_id: str | None = None, period: str | None = None) -> dict:
    """Hourly GPU and token rollups no contract item rates (operators and finance: every tenant when
    ``tenant_id`` is omitted; a tenant key: its own). ``period`` 'YYYY-MM' narrows to one month."""
    tenant_id = listing_scope(principal, tenant_id)
    wanted = [tenant_id] if tenant_id is not None else unrated.tenants_with_usage(conn)
    items = [item for tenant in wanted for item in unrated.unrated_usage(conn, tenant, period)]
    return {"items": items, "next_cursor": None}
