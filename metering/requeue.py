"""Service: put a parked batch back on the ingest queue, an operator's action (``POST
/v1/ingest/parked/{batch_id}/requeue``, ``kashi ingest requeue``).

A batch is parked after ``max_attempts`` deliveries that did not complete (a worker killed mid-batch
each time, a database that kept failing); its payload is kept in ``ingest_batches``. Once the cause is
fixed, the operator requeues it. In one transaction, holding the batch's row:

1. the payload is enqueued again with its receipt, through ``enqueue`` (the API's durable path: the
   call returns only once the message and receipt are fsynced by ``WAITAOF``), so the close barrier
   waits for it as for any acknowledged batch;
2. a ``BatchRequeued`` event (who, when, the attempts and error it had) is appended to the batch's
   ``ingest-batch:<id>`` stream, the audit trail of operator actions on it;
3. the row goes back to ``processing`` with its delivery count at 0 and its error cleared, so the
   worker gives it ``max_attempts`` fresh deliveries.

The row is committed only after the enqueue is durable: if the commit fails, the message finds the
batch still parked and is dropped, and the operator can requeue again; nothing is counted twice
either way, since a batch is recorded once (its status) and each event once (``(source, id)``).
A second requeue of the same batch waits for the first's row lock and then finds it not parked (409).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC

from sqlalchemy import Connection, text

from kashi import streams
from kashi.errors import Conflict, NotFound
from metering.events import UsageRecord
from metering.receipts import Receipt

log = logging.getLogger(__name__)
REQUEUED = "BatchRequeued"
STATES = {"processing": "queued", "done": "recorded"}
"""``ingest_batches`` status → the receipt's word for it, for the 409 of a batch that is not parked."""

Enqueue = Callable[[str, list[list], Receipt], None]
"""``enqueue(batch_id, rows, receipt)``: durable, raises :class:`~kashi.errors.Unavailable` otherwise."""


def stream_of(batch_id: str) -> str:
    return f"ingest-batch:{batch_id}"


def requeue(conn: Connection, batch_id: str, *, actor: str, enqueue: Enqueue) -> dict:
    """Requeue parked ``batch_id`` (see the module); answer ``{"batch_id", "events", "requeued_at",
    "requeued_by", "attempts", "error"}`` (the attempts and error it was parked with).

    Raises NotFound for a batch no worker has seen, Conflict for one that is not parked."""
    row = conn.execute(
        text("""SELECT status, attempts, events, payload, key_id, accepted_at, first_seen, error
                  FROM ingest_batches WHERE batch_id = :b FOR UPDATE"""),
        {"b": batch_id},
    ).first()
    if row is None:
        raise NotFound(f"batch {batch_id} not found", [{"field": "batch_id", "reason": "not found"}])
    if row.status != "parked":
        state = STATES.get(row.status, row.status)
        raise Conflict(
            f"batch {batch_id} is {state}, not parked: only a parked batch is requeued",
            [{"field": "batch_id", "reason": f"the batch is {state}"}],
        )
    if row.payload is None:
        raise Conflict(
            f"batch {batch_id} is parked without its payload: it cannot be requeued",
            [{"field": "batch_id", "reason": "no payload kept"}],
        )
    rows: list[list] = row.payload
    tenants = sorted({UsageRecord.from_wire(r).tenant_id for r in rows} - {None})
    accepted_at = (row.accepted_at or row.first_seen).astimezone(UTC)
    enqueue(batch_id, rows, Receipt(batch_id, row.events, row.key_id, accepted_at, tuple(tenants)))
    stream = stream_of(batch_id)
    (event,) = streams.append(
        conn,
        stream,
        streams.current_version(conn, stream),
        [(REQUEUED, {"batch_id": batch_id, "events": row.events, "attempts": row.attempts, "error": row.error})],
        actor,
    )
    conn.execute(
        text("""UPDATE ingest_batches SET status = 'processing', attempts = 0, error = NULL, payload = NULL,
                       last_seen = now() WHERE batch_id = :b"""),
        {"b": batch_id},
    )
    log.warning("parked batch requeued", extra={"batch_id": batch_id, "actor": actor, "events": row.events})
    return {
        "batch_id": batch_id,
        "status": "queued",
        "events": row.events,
        "attempts": row.attempts,
        "error": row.error,
        "requeued_at": event.recorded_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "requeued_by": actor,
    }
