"""Webhook endpoints (a projection of `webhook:<id>` streams), deliveries and the attempt log (SPEC §13).

The SQL of `billing.services.webhooks`: the endpoints' projection, claiming due deliveries under a lease
(`FOR UPDATE SKIP LOCKED`, so workers never attempt the same delivery at once), and recording attempts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


def insert_endpoint(conn: Connection, data: dict[str, Any], at: datetime) -> None:
    conn.execute(
        text("""INSERT INTO webhook_endpoints (id, url, events, secret, created_at)
                         VALUES (:id, :url, CAST(:events AS jsonb), :secret, :at)"""),
        {**data, "events": json.dumps(data["events"]), "at": at},
    )


def endpoint(conn: Connection, endpoint_id: str) -> Any | None:
    """The endpoint's row unless it is missing or deleted."""
    return conn.execute(
        text("SELECT * FROM webhook_endpoints WHERE id = :i AND deleted_at IS NULL"), {"i": endpoint_id}
    ).first()


def endpoints(conn: Connection, after: str | None, limit: int) -> list:
    return conn.execute(
        text("""SELECT * FROM webhook_endpoints WHERE deleted_at IS NULL
                                AND (CAST(:a AS text) IS NULL OR id > :a) ORDER BY id LIMIT :l"""),
        {"a": after, "l": limit},
    ).all()


def mark_deleted(conn: Connection, endpoint_id: str, at: datetime) -> None:
    conn.execute(text("UPDATE webhook_endpoints SET deleted_at = :at WHERE id = :i"), {"at": at, "i": endpoint_id})


def cancel_pending(conn: Connection, endpoint_id: str) -> None:
    conn.execute(
        text("""UPDATE webhook_deliveries SET status = 'cancelled'
                         WHERE endpoint_id = :i AND status = 'pending'"""),
        {"i": endpoint_id},
    )


def endpoint_events(conn: Connection) -> list:
    """Every event of every `webhook:<id>` stream, in stream order (for a rebuild)."""
    return conn.execute(
        text("""SELECT stream_id, type, data, recorded_at FROM stream_events
                                WHERE stream_id LIKE 'webhook:%' ORDER BY stream_id, version""")
    ).all()


def deliveries(conn: Connection, endpoint_id: str, before_seq: int | None, limit: int) -> list:
    """The endpoint's deliveries with their event's type and outbox seq, newest first."""
    return conn.execute(
        text("""SELECT d.*, e.type, e.seq, e.created_at AS event_created_at FROM webhook_deliveries d
                JOIN webhook_events e ON e.id = d.event_id
                WHERE d.endpoint_id = :i AND (CAST(:a AS bigint) IS NULL OR e.seq < :a)
                ORDER BY e.seq DESC LIMIT :l"""),
        {"i": endpoint_id, "a": before_seq, "l": limit},
    ).all()


def attempts(conn: Connection, endpoint_id: str, event_ids: list[str]) -> list:
    if not event_ids:
        return []
    return conn.execute(
        text("""SELECT * FROM webhook_attempts WHERE endpoint_id = :i AND event_id = ANY(:e)
                                ORDER BY event_id, attempt"""),
        {"i": endpoint_id, "e": event_ids},
    ).all()


def claim_due(conn: Connection, lease_s: int, limit: int) -> list:
    """Up to `limit` pending deliveries that are due, leased for `lease_s` seconds (pushed forward, so a
    worker dying mid-attempt leaves them to another): event and endpoint ids, the attempt number, url,
    secret, body and the event's age in seconds."""
    return conn.execute(
        text("""UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => :lease)
                FROM (SELECT event_id, endpoint_id FROM webhook_deliveries
                       WHERE status = 'pending' AND next_attempt_at <= now()
                       ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) due,
                     webhook_endpoints w, webhook_events e
                WHERE d.event_id = due.event_id AND d.endpoint_id = due.endpoint_id
                  AND w.id = d.endpoint_id AND e.id = d.event_id
                RETURNING d.event_id, d.endpoint_id, d.attempts + 1 AS attempt, w.url, w.secret, e.body,
                          extract(epoch FROM now() - d.created_at) AS age_s"""),
        {"lease": lease_s, "n": limit},
    ).all()


def record_attempt(
    conn: Connection,
    event_id: str,
    endpoint_id: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    *,
    status: str,
    retry_in_s: int,
) -> None:
    """Log the attempt and move the delivery to `status` (delivered, failed, or pending again in
    `retry_in_s` seconds)."""
    conn.execute(
        text("""INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, status_code, error, duration_ms)
                         VALUES (:e, :w, :n, :c, :err, :ms)"""),
        {"e": event_id, "w": endpoint_id, "n": attempt, "c": status_code, "err": error, "ms": duration_ms},
    )
    conn.execute(
        text("""UPDATE webhook_deliveries SET attempts = :n, last_attempt_at = now(), last_status_code = :c,
                       last_error = :err, status = :s,
                       delivered_at = CASE WHEN :s = 'delivered' THEN now() END,
                       next_attempt_at = now() + make_interval(secs => :wait)
                WHERE event_id = :e AND endpoint_id = :w AND status = 'pending'"""),
        {
            "n": attempt,
            "c": status_code,
            "err": error,
            "s": status,
            "e": event_id,
            "w": endpoint_id,
            "wait": retry_in_s,
        },
    )


def seconds_to_next(conn: Connection) -> float | None:
    """Seconds until the earliest pending delivery is due (negative when overdue); None when none is pending."""
    wait = conn.execute(
        text("""SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM webhook_deliveries
                                WHERE status = 'pending'""")
    ).scalar()
    return None if wait is None else float(wait)
