"""Service: a dequeued batch → the usage log and its rollups, in one transaction (SPEC §3).

dramatiq delivers at least once. Each delivery is counted in ``ingest_batches`` in its own
committed transaction *before* the work, so a batch that kills its worker every time (SIGKILL,
OOM) is seen coming back and, after ``max_attempts``, parked for operators instead of looping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, Engine, text

from metering.events import UsageRecord
from metering.store import Recorded, record_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str
    """``recorded``, ``already_recorded`` or ``parked``."""
    recorded: Recorded | None = None


def _count_delivery(engine: Engine, batch_id: str, events: int, receipt: dict) -> tuple[str, int]:
    with engine.begin() as conn:
        status, attempts = conn.execute(
            text("""INSERT INTO ingest_batches (batch_id, status, attempts, events, key_id, accepted_at)
                    VALUES (:b, 'processing', 1, :n, :k, CAST(:a AS timestamptz))
                    ON CONFLICT (batch_id) DO UPDATE
                    SET attempts = ingest_batches.attempts + 1, last_seen = now()
                    RETURNING status, attempts"""),
            {
                "b": batch_id,
                "n": receipt.get("events", events),
                "k": receipt.get("key_id"),
                "a": receipt.get("accepted_at"),
            },
        ).one()
    return status, attempts


OnParked = Callable[[Connection, dict], None]
"""Called inside the parking transaction with `{"batch_id","status","events","attempts","error"}` (the
webhook outbox hooks in here: metering knows nothing of billing)."""


def _park(engine: Engine, batch_id: str, rows: list[list], attempts: int, on_parked: OnParked | None = None) -> None:
    error = f"delivered {attempts} times without completing; parked for an operator"
    with engine.begin() as conn:
        conn.execute(
            text("""UPDATE ingest_batches SET status = 'parked', payload = CAST(:p AS jsonb), error = :e
                    WHERE batch_id = :b"""),
            {"b": batch_id, "p": orjson.dumps(rows).decode(), "e": error},
        )
        if on_parked is not None:
            on_parked(
                conn,
                {"batch_id": batch_id, "status": "parked", "events": len(rows), "attempts": attempts, "error": error},
            )


def record(
    engine: Engine,
    batch_id: str,
    rows: list[list],
    *,
    max_attempts: int = 5,
    receipt: dict | None = None,
    on_parked: OnParked | None = None,
) -> Outcome:
    """Record one queued batch exactly once, or park it after ``max_attempts`` deliveries.

    ``receipt`` (events as sent, key_id, accepted_at: what the 202 promised, carried in the message)
    is projected into ``ingest_batches`` with the delivery count; ``recorded_at`` and ``new_events``
    are set in the transaction that records the batch."""
    status, attempts = _count_delivery(engine, batch_id, len(rows), receipt or {})
    if status in ("done", "parked"):
        log.info("batch already handled", extra={"batch_id": batch_id, "status": status})
        return Outcome("already_recorded" if status == "done" else "parked")
    if attempts > max_attempts:
        _park(engine, batch_id, rows, attempts, on_parked)
        log.error("batch parked", extra={"batch_id": batch_id, "attempts": attempts})
        return Outcome("parked")
    records = [UsageRecord.from_wire(row) for row in rows]
    with engine.begin() as conn:
        result = record_batch(conn, batch_id, records)
        conn.execute(
            text("""UPDATE ingest_batches SET status = 'done', persisted = :n, new_events = :n,
                                recorded_at = clock_timestamp() WHERE batch_id = :b"""),
            {"b": batch_id, "n": result.events},
        )
    log.info(
        "batch recorded",
        extra={
            "batch_id": batch_id,
            "events": result.events,
            "duplicates": result.duplicates,
            "card_seconds": result.card_seconds,
        },
    )
    return Outcome("recorded", result)


def statuses(engine: Engine, batch_ids: list[str]) -> dict[str, str]:
    """``ingest_batches`` status (``processing``, ``done``, ``parked``) of each batch id it knows."""
    if not batch_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT batch_id, status FROM ingest_batches WHERE batch_id = ANY(:ids)"), {"ids": batch_ids}
        ).all()
    return {row.batch_id: row.status for row in rows}
