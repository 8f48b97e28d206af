"""The webhook outbox: events written in the transaction of the change they report (SPEC §13).

`emit(conn, event_type, data)` is the one call a service makes: it stores the event's body, exactly
as it will be sent, in `webhook_events` (append-only) and one pending `webhook_deliveries` row per
endpoint subscribed to `event_type` — all inside the caller's transaction, so an event exists if
and only if its change committed. A worker delivers it afterwards (`billing.services.webhooks`): the
`NOTIFY kashi_outbox` sent here reaches the workers' listeners only when the transaction commits.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.periods import instant_to_json

EVENT_TYPES = (
    "invoice.issued",
    "credit_note.issued",
    "payment.recorded",
    "period.closed",
    "batch.parked",
    "contract.at_risk",
)
CHANNEL = "kashi_outbox"
"""The PostgreSQL NOTIFY channel that wakes the delivery workers (delivered on commit only)."""


def body_of(event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The delivered JSON `{"id","type","created_at","data"}`, compact UTF-8 text (signed as is)."""
    envelope = {"id": event_id, "type": event_type, "created_at": instant_to_json(created_at), "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)


def emit(conn: Connection, event_type: str, data: dict) -> None:
    """Record `event_type` with `data` (the resource's JSON) for delivery to every subscribed endpoint.

    Call it inside the transaction that makes the change; it commits or rolls back with it.
    Raises ValueError for an event type outside EVENT_TYPES.
    """
    emit_many(conn, event_type, [data])


def emit_many(conn: Connection, event_type: str, datas: list[dict]) -> None:
    """`emit` of many events of one type (a month close's invoices), in three statements."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not datas:
        return
    created_at = datetime.now(UTC)
    events = [(f"evt_{uuid.uuid4().hex[:24]}", data) for data in datas]
    conn.execute(
        text("INSERT INTO webhook_events (id, type, created_at, body) VALUES (:i, :t, :at, :b)"),
        [
            {"i": event_id, "t": event_type, "at": created_at, "b": body_of(event_id, event_type, created_at, data)}
            for event_id, data in events
        ],
    )
    added = conn.execute(
        text("""INSERT INTO webhook_deliveries (event_id, endpoint_id, status)
                SELECT e.id, w.id, 'pending' FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS e(id, n)
                CROSS JOIN webhook_endpoints w
                 WHERE w.deleted_at IS NULL AND jsonb_exists(w.events, :t)
                 ORDER BY e.n, w.id"""),
        {"ids": [event_id for event_id, _ in events], "t": event_type},
    ).rowcount
    if added:
        conn.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
