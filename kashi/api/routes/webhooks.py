"""Webhook endpoints (operator): register, read, delete, and read each endpoint's delivery log."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from billing.services import webhooks
from kashi.api.deps import ConnDep, Operator
from kashi.api.schemas.webhooks import WebhookCreate
from kashi.errors import ValidationFailed

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks", status_code=201)
def create_webhook(conn: ConnDep, principal: Operator, body: WebhookCreate) -> dict:
    """Register an endpoint; the answer carries its signing `secret`, shown once. Each delivery is a POST
    of `{"id","type","created_at","data"}` with headers `Kashi-Event-Id` and `Kashi-Signature:
    t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A 2xx answer is delivered; anything else or no
    answer in 10 s is retried with exponential backoff (2 s doubling, at most 1 h apart) for 25 hours."""
    return webhooks.create(conn, body.url, list(body.events), actor=f"key:{principal.key_id}")


@router.get("/webhooks")
def list_webhooks(
    conn: ConnDep, principal: Operator, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict:
    """Registered webhook endpoints (operators); secrets are never shown again."""
    items = webhooks.list_endpoints(conn, cursor or None, limit)
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: str, conn: ConnDep, principal: Operator) -> dict:
    """One webhook endpoint and the event types it receives (operators)."""
    return webhooks.get(conn, webhook_id)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: str, conn: ConnDep, principal: Operator) -> Response:
    """Stop sending to the endpoint; deliveries still pending are cancelled."""
    webhooks.delete(conn, webhook_id, actor=f"key:{principal.key_id}")
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
def webhook_deliveries(
    webhook_id: str,
    conn: ConnDep,
    principal: Operator,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """The endpoint's deliveries, newest first: status (pending, delivered, failed, cancelled), attempts,
    the last answer, and `log`, every attempt with its status code or error."""
    if cursor and not cursor.isdigit():
        raise ValidationFailed.of("cursor", f"{cursor!r} is not a cursor of this listing")
    items = webhooks.deliveries(conn, webhook_id, int(cursor) if cursor else None, limit)
    return {"items": items, "next_cursor": str(items[-1]["seq"]) if len(items) == limit else None}
