"""Service: webhook endpoints, and delivering the outbox to them (SPEC §13).

Endpoints are event streams `webhook:<id>` (`WebhookCreated` holds the url, the event types and the
signing secret, shown once to the operator who created it; `WebhookDeleted`), projected into
`webhook_endpoints`. Events reach the outbox through `billing.store.outbox.emit`, in the transaction of
the change they report.

Delivery, at least once: `deliver_due` claims the deliveries that are due (a 60 s lease, so a worker
that dies mid-attempt leaves them to another), POSTs each event's stored body with

    Kashi-Event-Id: <event id>
    Kashi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

and records the attempt. A 2xx answer is delivered; anything else, a refused connection or no answer
within REQUEST_TIMEOUT_S is retried with exponential backoff: FIRST_RETRY_S × 2^(n−1) after the n-th
failure, at most MAX_RETRY_S apart, until RETRY_FOR_S (25 h) after the event; then it is `failed`.
Every attempt is kept in `webhook_attempts`, the delivery log. Receivers verify the signature by
recomputing the HMAC over `t`, a dot and the raw body, and should refuse a `t` far from their clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import Connection, Engine

from billing.core.periods import instant_to_json
from billing.store import webhooks as store
from billing.store.outbox import EVENT_TYPES
from kashi import streams
from kashi.errors import NotFound, ValidationFailed

FIRST_RETRY_S = 2
MAX_RETRY_S = 3600
RETRY_FOR_S = 25 * 3600
"""Retries go on for 25 hours after the event (at least 24 h, as promised), then the delivery fails."""
REQUEST_TIMEOUT_S = 10.0
LEASE_S = 60
BATCH = 50


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Kashi-Signature` header value: `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """Whether `header` (a `Kashi-Signature` value) signs `body` with `secret` (what a receiver does)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(parts["t"]), body), header)


def backoff_s(failures: int) -> int:
    """Seconds before the next attempt after `failures` failed ones: 2, 4, 8 … capped at an hour."""
    return min(FIRST_RETRY_S * 2 ** (failures - 1), MAX_RETRY_S)


# --- endpoints -------------------------------------------------------------------------------------


def _validate(url: object, events: object) -> tuple[str, list[str]]:
    problems = []
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        problems.append({"field": "url", "reason": "must be an http or https URL"})
    if not isinstance(events, list) or not events:
        problems.append({"field": "events", "reason": f"must list event types, of: {', '.join(EVENT_TYPES)}"})
    else:
        for n, event in enumerate(events):
            if event not in EVENT_TYPES:
                reason = f"unknown event type; one of {', '.join(EVENT_TYPES)}"
                problems.append({"field": f"events[{n}]", "reason": reason})
    if problems:
        raise ValidationFailed("invalid webhook endpoint", problems)
    return url, sorted(set(events), key=EVENT_TYPES.index)


def create(conn: Connection, url: str, events: list[str], *, actor: str) -> dict[str, Any]:
    """A new endpoint; the answer carries its `secret`, which is never shown again."""
    url, events = _validate(url, events)
    endpoint_id = f"wh_{uuid.uuid4().hex[:20]}"
    data = {"id": endpoint_id, "url": url, "events": events, "secret": f"whsec_{secrets.token_urlsafe(32)}"}
    stored = streams.append(conn, f"webhook:{endpoint_id}", 0, [("WebhookCreated", data)], actor)
    _project_created(conn, data, stored[0].recorded_at)
    return {**get(conn, endpoint_id), "secret": data["secret"]}


def _project_created(conn: Connection, data: dict, at: datetime) -> None:
    store.insert_endpoint(conn, data, at)


def _row(conn: Connection, endpoint_id: str):
    row = store.endpoint(conn, endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found", [{"field": "webhook_id", "reason": "not found"}])
    return row


def _json(row) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": list(row.events), "created_at": instant_to_json(row.created_at)}


def get(conn: Connection, endpoint_id: str) -> dict[str, Any]:
    return _json(_row(conn, endpoint_id))


def list_endpoints(conn: Connection, after: str | None, limit: int) -> list[dict[str, Any]]:
    return [_json(r) for r in store.endpoints(conn, after, limit)]


def delete(conn: Connection, endpoint_id: str, *, actor: str) -> None:
    """Stop sending to the endpoint: `WebhookDeleted`; its pending deliveries are cancelled."""
    _row(conn, endpoint_id)
    stream = f"webhook:{endpoint_id}"
    stored = streams.append(conn, stream, streams.current_version(conn, stream), [("WebhookDeleted", {})], actor)
    store.mark_deleted(conn, endpoint_id, stored[0].recorded_at)
    store.cancel_pending(conn, endpoint_id)


def rebuild_endpoints(conn: Connection) -> int:
    """Refill `webhook_endpoints` from every `webhook:<id>` stream."""
    rows = store.endpoint_events(conn)
    for row in rows:
        if row.type == "WebhookCreated":
            store.insert_endpoint(conn, row.data, row.recorded_at)
        elif row.type == "WebhookDeleted":
            store.mark_deleted(conn, row.stream_id.removeprefix("webhook:"), row.recorded_at)
    return len(rows)


def deliveries(conn: Connection, endpoint_id: str, after: int | None, limit: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries, newest event first, each with its attempts (the delivery log);
    the cursor is the event's outbox `seq`."""
    _row(conn, endpoint_id)
    rows = store.deliveries(conn, endpoint_id, after, limit)
    log: dict[str, list] = {r.event_id: [] for r in rows}
    for a in store.attempts(conn, endpoint_id, list(log)):
        log[a.event_id].append(
            {
                "attempt": a.attempt,
                "at": instant_to_json(a.at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
        )
    return [
        {
            "seq": r.seq,
            "event_id": r.event_id,
            "type": r.type,
            "status": r.status,
            "attempts": r.attempts,
            "event_created_at": instant_to_json(r.event_created_at),
            "next_attempt_at": instant_to_json(r.next_attempt_at) if r.status == "pending" else None,
            "last_status_code": r.last_status_code,
            "last_error": r.last_error,
            "delivered_at": instant_to_json(r.delivered_at) if r.delivered_at else None,
            "log": log[r.event_id],
        }
        for r in rows
    ]


# --- delivering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    event_id: str
    endpoint_id: str
    attempt: int
    url: str
    secret: str
    body: str
    age_s: float


def _claim(engine: Engine, limit: int) -> list[Due]:
    with engine.begin() as conn:
        rows = store.claim_due(conn, LEASE_S, limit)
    return [Due(r.event_id, r.endpoint_id, r.attempt, r.url, r.secret, r.body, float(r.age_s)) for r in rows]


def _send(client: httpx.Client, due: Due) -> tuple[int | None, str | None, int]:
    body = due.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kashi-Webhooks/1",
        "Kashi-Event-Id": due.event_id,
        "Kashi-Signature": sign(due.secret, int(time.time()), body),
    }
    started = time.monotonic()
    try:
        answer = client.post(due.url, content=body, headers=headers)
        code, error = answer.status_code, None if 200 <= answer.status_code < 300 else f"answered {answer.status_code}"
    except httpx.HTTPError as exc:
        code, error = None, f"{type(exc).__name__}: {exc}"[:500]
    return code, error, int((time.monotonic() - started) * 1000)


def _record(engine: Engine, due: Due, code: int | None, error: str | None, duration_ms: int) -> None:
    ok = error is None
    status = "delivered" if ok else "failed" if due.age_s >= RETRY_FOR_S else "pending"
    with engine.begin() as conn:
        store.record_attempt(
            conn,
            due.event_id,
            due.endpoint_id,
            due.attempt,
            code,
            error,
            duration_ms,
            status=status,
            retry_in_s=backoff_s(due.attempt),
        )


def deliver_due(engine: Engine, *, limit: int = BATCH) -> int:
    """Attempt every delivery that is due (in batches of `limit`); returns how many were attempted."""
    attempted = 0
    with httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False) as client:
        while True:
            batch = _claim(engine, limit)
            for due in batch:
                _record(engine, due, *_send(client, due))
            attempted += len(batch)
            if len(batch) < limit:
                return attempted


def seconds_to_next(engine: Engine) -> float | None:
    """Seconds until the next pending delivery is due (0 when one is due now); None when none is pending."""
    with engine.connect() as conn:
        wait = store.seconds_to_next(conn)
    return None if wait is None else max(wait, 0.0)
