"""Usage queries, conflicts and parked batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from billing.core.contract_payload import parse_instant
from billing.core.periods import instant_to_json
from billing.services import tenants
from billing.services.late_usage import late_usage
from kashi.api.deps import ConnDep, Operator, Reader, listing_scope, offset_restored
from kashi.api.pagination import page
from kashi.errors import ValidationFailed
from metering import health, requeue, usage
from workers.broker import enqueue_usage

router = APIRouter(tags=["usage"])
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def query_instant(value: str, field: str, tz: str) -> datetime:
    """An instant from a query string: RFC 3339 or a bare date (local midnight in ``tz``)."""
    return parse_instant(offset_restored(value), field=field, tz=tz)


@router.get("/usage")
def get_usage(
    conn: ConnDep,
    principal: Reader,
    tenant_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    type: Literal["gpu", "tokens"] = "gpu",
    group_by: Literal["hour", "day", "month"] = "day",
) -> dict:
    """Exact card-seconds (and card-hours) or token counts per bucket in the tenant's timezone, for
    hours starting in ``[start, end)`` (default: all). A tenant key reads its own tenant."""
    tenant_id = listing_scope(principal, tenant_id)
    if tenant_id is None:
        raise ValidationFailed.of("tenant_id", "required with an operator or finance key")
    tz = tenants.get(conn, tenant_id)["timezone"]
    start_at = query_instant(start, "start", tz) if start else EARLIEST
    end_at = query_instant(end, "end", tz) if end else LATEST
    if end_at <= start_at:
        raise ValidationFailed.of("end", "must be after start")
    query = usage.gpu_usage if type == "gpu" else usage.token_usage
    rows = query(conn, tenant_id, tz, start_at, end_at, group_by)
    zone = ZoneInfo(tz)
    for row in rows:
        row["bucket"] = row["bucket"].astimezone(zone).isoformat()
    return {
        "tenant_id": tenant_id,
        "timezone": tz,
        "type": type,
        "group_by": group_by,
        "start": instant_to_json(start_at.astimezone(UTC)),
        "end": instant_to_json(end_at.astimezone(UTC)),
        "items": rows,
        "next_cursor": None,
    }


@router.get("/usage/conflicts")
def list_conflicts(
    conn: ConnDep, _: Operator, cursor: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
) -> dict:
    """GPU-seconds reported by two tenants: billed to the first persisted (``holder_tenant_id``)."""
    return page(health.conflicts(conn, after=cursor, limit=limit), limit, key="id")


@router.get("/ingest/parked")
def list_parked(conn: ConnDep, _: Operator) -> dict:
    """Batches that failed delivery too often and wait for an operator (never silently dropped)."""
    return {"items": health.parked_batches(conn), "next_cursor": None}


@router.post("/ingest/parked/{batch_id}/requeue", status_code=202)
def requeue_parked(batch_id: str, request: Request, conn: ConnDep, principal: Operator) -> dict:
    """Put a parked batch back on the ingest queue (durably, as a 202 does) with fresh deliveries."""
    return requeue_batch(request, conn, batch_id, actor=f"key:{principal.key_id}")


def requeue_batch(request: Request, conn, batch_id: str, *, actor: str) -> dict:
    """`metering.requeue.requeue` through this API's broker and receipts (the console's button too)."""
    broker, receipts = request.app.state.broker, request.app.state.receipts

    def enqueue(batch: str, rows: list[list], receipt) -> None:
        enqueue_usage(broker, batch, rows, receipt, receipts)

    return requeue.requeue(conn, batch_id, actor=actor, enqueue=enqueue)


@router.get("/usage/late")
def list_late(conn: ConnDep, principal: Reader, tenant_id: str | None = None) -> dict:
    """Late usage waiting for the next invoice: usage with an event time in a closed period that arrived
    after that period's close and that no later close has billed yet (it will be, as adjustment lines
    labelled with its own period). A tenant key reads its own; operator and finance may name a tenant or
    list every tenant."""
    tenant_id = listing_scope(principal, tenant_id)
    if tenant_id is not None:
        tenants.get(conn, tenant_id)
    return {"items": late_usage(conn, tenant_id), "next_cursor": None}
