"""Service: dequeued batches → the usage log and its rollups, in one transaction (SPEC §3).

dramatiq delivers at least once. Each delivery is counted in ``ingest_batches`` in its own
committed transaction *before* the work, so a batch that kills its worker every time (SIGKILL,
OOM) is seen coming back and, after ``max_attempts``, parked for operators instead of looping.

A worker process records the batches its threads hold at once in one transaction
(:class:`Recorder`, a group commit): one log append, one upsert per rollup row and one commit for
all of them, which is what ingest throughput is made of (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import Connection, Engine, text

from kashi.db import raw
from metering.events import UsageRecord
from metering.receipts import json_instant
from metering.store import LostRace, Recorded, record_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str
    """``recorded``, ``already_recorded`` or ``parked``."""
    recorded: Recorded | None = None


@dataclass(frozen=True)
class Delivery:
    """One dequeued message: a batch as queued and what its 202 promised (events, key_id, accepted_at)."""

    batch_id: str
    rows: list[list]
    receipt: dict = field(default_factory=dict)


def _count_deliveries(engine: Engine, deliveries: list[Delivery]) -> dict[str, tuple[str, int]]:
    """Count one more delivery of each batch in its own committed transaction: ``{batch_id: (status, attempts)}``."""
    with engine.begin() as conn:
        rows = (
            raw(conn)
            .execute(
                """INSERT INTO ingest_batches (batch_id, status, attempts, events, key_id, accepted_at)
               SELECT b, 'processing', 1, n, k, a FROM unnest(%b::text[], %b::int[], %b::text[], %b::timestamptz[])
                 AS d(b, n, k, a) ORDER BY b
               ON CONFLICT (batch_id) DO UPDATE
               SET attempts = ingest_batches.attempts + 1, last_seen = now()
               RETURNING batch_id, status, attempts""",
                (
                    [d.batch_id for d in deliveries],
                    [d.receipt.get("events", len(d.rows)) for d in deliveries],
                    [d.receipt.get("key_id") for d in deliveries],
                    [_instant(d.receipt.get("accepted_at")) for d in deliveries],
                ),
            )
            .fetchall()
        )
    return {batch_id: (status, attempts) for batch_id, status, attempts in rows}


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


OnParked = Callable[[Connection, dict], None]
"""Called inside the parking transaction with the batch's JSON as ``GET /v1/ingest/batches/{id}``
answers it (status ``parked``) plus ``attempts``, ``error``, ``first_seen`` and ``last_seen`` as
``GET /v1/ingest/parked`` lists them (the webhook outbox hooks in here: metering knows nothing of billing)."""


def _park(engine: Engine, batch_id: str, rows: list[list], attempts: int, on_parked: OnParked | None = None) -> None:
    error = f"delivered {attempts} times without completing; parked for an operator"
    with engine.begin() as conn:
        row = conn.execute(
            text("""UPDATE ingest_batches SET status = 'parked', payload = CAST(:p AS jsonb), error = :e
                    WHERE batch_id = :b RETURNING events, accepted_at, first_seen, last_seen"""),
            {"b": batch_id, "p": orjson.dumps(rows).decode(), "e": error},
        ).one()
        if on_parked is not None:
            on_parked(
                conn,
                {
                    "batch_id": batch_id,
                    "status": "parked",
                    "events": row.events,
                    "new": None,
                    "duplicates": None,
                    "accepted_at": json_instant(row.accepted_at or row.first_seen),
                    "recorded_at": None,
                    "attempts": attempts,
                    "error": error,
                    "first_seen": json_instant(row.first_seen),
                    "last_seen": json_instant(row.last_seen),
                },
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
    """Record one queued batch exactly once, or park it after ``max_attempts`` deliveries (raise what
    stopped it otherwise: the broker delivers it again)."""
    (result,) = record_many(
        engine, [Delivery(batch_id, rows, receipt or {})], max_attempts=max_attempts, on_parked=on_parked
    )
    if isinstance(result, BaseException):
        raise result
    return result


def record_many(
    engine: Engine, deliveries: list[Delivery], *, max_attempts: int = 5, on_parked: OnParked | None = None
) -> list[Outcome | Exception]:
    """Record dequeued batches, each exactly once, together where that is safe; the outcome of each
    (or the exception that stopped it, for the broker to deliver it again), in order.

    Every delivery is counted first in one committed transaction. Batches seen for the first time
    are recorded in one transaction (one upsert per rollup row for all of them); a batch delivered
    before without completing is recorded alone, so a batch that kills its worker takes no other
    batch down with it and is parked alone after ``max_attempts``. If the shared transaction fails,
    each of its batches is recorded alone: only the faulty one fails.

    ``receipt`` (events as sent, key_id, accepted_at: what the 202 promised, carried in the message)
    is projected into ``ingest_batches`` with the delivery count; ``recorded_at`` and ``new_events``
    are set in the transaction that records the batch."""
    unique: dict[str, Delivery] = {}
    for d in deliveries:  # a batch delivered twice at once is recorded once
        unique.setdefault(d.batch_id, d)
    counted = _count_deliveries(engine, list(unique.values()))
    results: dict[str, Outcome | Exception] = {}
    fresh: list[Delivery] = []
    again: list[list[Delivery]] = []
    for d in unique.values():
        status, attempts = counted[d.batch_id]
        if status in ("done", "parked"):
            log.info("batch already handled", extra={"batch_id": d.batch_id, "status": status})
            results[d.batch_id] = Outcome("already_recorded" if status == "done" else "parked")
        elif attempts > max_attempts:
            try:
                _park(engine, d.batch_id, d.rows, attempts, on_parked)
                log.error("batch parked", extra={"batch_id": d.batch_id, "attempts": attempts})
                results[d.batch_id] = Outcome("parked")
            except Exception as exc:  # noqa: BLE001 - handed to this batch's delivery, which the broker retries
                results[d.batch_id] = exc
        elif attempts == 1:
            fresh.append(d)
        else:
            again.append([d])
    for group in ([fresh] if fresh else []) + again:
        results.update(_record_group(engine, group))
    return [results[d.batch_id] for d in deliveries]


RACES = 3
"""Times a group is recorded again after losing a race for an event key, before each batch goes alone."""


def _record_group(engine: Engine, group: list[Delivery]) -> dict[str, Outcome | Exception]:
    for _ in range(RACES):
        try:
            return _record_together(engine, group)
        except LostRace as exc:
            log.info("lost a race for an event key; recording again", extra={"batches": len(group)})
            failure: Exception = exc
        except Exception as exc:  # noqa: BLE001 - alone, below; or handed to the batch's delivery
            failure = exc
            break
    if len(group) == 1:
        return {group[0].batch_id: failure}
    return {batch_id: result for d in group for batch_id, result in _record_group(engine, [d]).items()}


def _record_together(engine: Engine, group: list[Delivery]) -> dict[str, Outcome]:
    batches = [(d.batch_id, [UsageRecord.from_wire(row) for row in d.rows]) for d in group]
    with engine.begin() as conn:
        recorded = record_batches(conn, batches)
        raw(conn).execute(
            """UPDATE ingest_batches b SET status = 'done', persisted = r.n, new_events = r.n,
                      recorded_at = clock_timestamp()
               FROM unnest(%b::text[], %b::int[]) AS r(batch_id, n) WHERE b.batch_id = r.batch_id""",
            ([d.batch_id for d in group], [r.events for r in recorded]),
        )
    for d, result in zip(group, recorded, strict=True):
        log.info(
            "batch recorded",
            extra={
                "batch_id": d.batch_id,
                "events": result.events,
                "duplicates": result.duplicates,
                "card_seconds": result.card_seconds,
                "together_with": len(group) - 1,
            },
        )
    return {d.batch_id: Outcome("recorded", r) for d, r in zip(group, recorded, strict=True)}


class Recorder:
    """Group commit for one worker process: the batches its worker threads hand in while a recording
    transaction runs are recorded together in the next one (:func:`record_many`).

    A thread calling :meth:`record` waits until its batch's transaction committed (so the broker
    acknowledges the message only then). While ``leaders`` transactions run, arriving batches
    queue; the next free thread takes every queued batch (up to ``max_events``) into one."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_attempts: int = 5,
        on_parked: OnParked | None = None,
        max_events: int = 10_000,
        leaders: int = 1,
    ):
        self.engine, self.max_attempts, self.on_parked = engine, max_attempts, on_parked
        self.max_events, self.leaders = max_events, leaders
        self._cond = threading.Condition()
        self._queued: list[_Waiting] = []
        self._running = 0

    def record(self, batch_id: str, rows: list[list], receipt: dict | None = None) -> Outcome:
        me = _Waiting(Delivery(batch_id, rows, receipt or {}))
        with self._cond:
            self._queued.append(me)
        while True:
            with self._cond:
                while not me.done and self._running >= self.leaders:
                    self._cond.wait()
                if me.done:
                    break
                self._running += 1
                group = self._take()
            stop: BaseException | None = None
            try:
                results: list = record_many(
                    self.engine, [w.delivery for w in group], max_attempts=self.max_attempts, on_parked=self.on_parked
                )
            except BaseException as exc:  # noqa: BLE001 - every batch of the group is delivered again
                results, stop = [exc] * len(group), exc
            with self._cond:
                for waiting, result in zip(group, results, strict=True):
                    waiting.result, waiting.done = result, True
                self._running -= 1
                self._cond.notify_all()
            if stop is not None and not isinstance(stop, Exception):
                raise stop
        if isinstance(me.result, BaseException):
            raise me.result
        return me.result

    def _take(self) -> list[_Waiting]:
        group, events = [], 0
        while self._queued and (not group or events + len(self._queued[0].delivery.rows) <= self.max_events):
            waiting = self._queued.pop(0)
            group.append(waiting)
            events += len(waiting.delivery.rows)
        return group


@dataclass
class _Waiting:
    delivery: Delivery
    done: bool = False
    result: Outcome | BaseException | None = None


def statuses(engine: Engine, batch_ids: list[str]) -> dict[str, str]:
    """``ingest_batches`` status (``processing``, ``done``, ``parked``) of each batch id it knows."""
    if not batch_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT batch_id, status FROM ingest_batches WHERE batch_id = ANY(:ids)"), {"ids": batch_ids}
        ).all()
    return {row.batch_id: row.status for row in rows}
