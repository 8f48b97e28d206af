"""Actors: each makes one service call and declares its retries (STYLE principle 9).

Actors are declared on a given broker by :func:`declare`, so that building a worker or a test
never connects or registers anything at import time.
"""

from __future__ import annotations

import dramatiq
from sqlalchemy import Engine

from billing.store.outbox import emit
from metering.receipts import Receipts
from metering.record import Recorder
from workers import close, webhooks
from workers.broker import INGEST_QUEUE, RECORD_USAGE


def _emit_parked(conn, batch: dict) -> None:
    """`batch.parked` into the webhook outbox, inside the parking transaction."""
    emit(conn, "batch.parked", batch)


RECORD_MAX_BACKOFF_MS = 30_000


def retry_until_recorded(retries: int, exception: BaseException) -> bool:
    """``record_usage``'s retry policy: always. The queue never gives an acknowledged batch up (a
    dead-lettered message would be lost to billing, and its receipt would hold every close of its
    tenants at 409). A batch that keeps failing is parked in PostgreSQL once its counted deliveries
    pass ``max_attempts`` (:mod:`metering.record`); one that fails before a delivery can be counted
    (PostgreSQL down) is tried again for as long as that lasts, at most 30 s apart."""
    return True


def declare(broker, engine: Engine, *, max_attempts: int = 5, namespace: str = "kashi") -> dict[str, dramatiq.Actor]:
    """Declare Kashi's actors on ``broker``, bound to ``engine``; receipts live under ``namespace``."""
    receipts = Receipts(broker.client, namespace)
    recorder = Recorder(engine, max_attempts=max_attempts, on_parked=_emit_parked)

    def record_usage(batch_id: str, rows: list[list], receipt: dict | None = None) -> None:
        outcome = recorder.record(batch_id, rows, receipt)  # with the batches other threads hold meanwhile
        if outcome.status != "parked":  # a parked batch stays pending: a close must not pass it by
            receipts.forget([batch_id])

    actors = {
        RECORD_USAGE: dramatiq.actor(
            record_usage,
            actor_name=RECORD_USAGE,
            queue_name=INGEST_QUEUE,
            broker=broker,
            retry_when=retry_until_recorded,
            min_backoff=200,
            max_backoff=RECORD_MAX_BACKOFF_MS,
        ),
    }
    actors.update(close.declare(broker, engine, receipts))
    actors.update(webhooks.declare(broker, engine))
    return actors
