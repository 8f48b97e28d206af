"""The month-close actor: one service call, its queue and its retries (STYLE principle 9).

The scheduler enqueues `close_period("YYYY-MM", [tenant_id, …])`, one message per chunk of up to
`CLOSE_CHUNK` tenants due for that period (`billing.services.close.close_due`: one transaction per
chunk, not one per tenant). The close is idempotent, so a redelivery or a retry after a crash (which
rolled the chunk's close back whole) completes it.
"""

from __future__ import annotations

import dramatiq
from sqlalchemy import Engine

from billing.core.periods import Period
from billing.services.close import CLOSE_CHUNK, close_due

CLOSE_QUEUE = "close"
CLOSE_PERIOD = "close_period"
CLOSE_SUPPLIER_PERIOD = "close_supplier_period"


ACTOR_DRAIN_S = 5
"""How long the actor waits for acknowledged batches before it gives its thread back and retries
(with backoff): a worker thread must not sit on a close while the same worker records ingest."""


def declare(broker, engine: Engine, receipts=None) -> dict[str, dramatiq.Actor]:
    """Declare the close actor on `broker`, bound to `engine`; with `receipts` the close barrier runs."""

    def close_period(period: str, tenant_ids: list[str] | str) -> None:
        if isinstance(tenant_ids, str):  # (tenant_id, period), as a scheduler before chunked closes queued it
            period, tenant_ids = tenant_ids, [period]
        close_due(engine, Period.parse(period), tenant_ids, receipts=receipts, drain_timeout_s=ACTOR_DRAIN_S)

    def close_supplier_period(supplier_id: str, period: str) -> None:
        from billing.services.supplier_bills import close_supplier

        close_supplier(engine, supplier_id, Period.parse(period))

    actor = dramatiq.actor(
        close_period,
        actor_name=CLOSE_PERIOD,
        queue_name=CLOSE_QUEUE,
        broker=broker,
        max_retries=10,
        min_backoff=1_000,
        max_backoff=60_000,
    )
    supplier_actor = dramatiq.actor(
        close_supplier_period,
        actor_name=CLOSE_SUPPLIER_PERIOD,
        queue_name=CLOSE_QUEUE,
        broker=broker,
        max_retries=10,
        min_backoff=1_000,
        max_backoff=60_000,
    )
    return {CLOSE_PERIOD: actor, CLOSE_SUPPLIER_PERIOD: supplier_actor}


def enqueue_close(broker, period: Period, tenant_ids: list[str]) -> None:
    """Ask workers to close `period` for `tenant_ids`, a message per `CLOSE_CHUNK` of them (durable
    once this returns)."""
    for n in range(0, len(tenant_ids), CLOSE_CHUNK):
        chunk = list(tenant_ids[n : n + CLOSE_CHUNK])
        broker.enqueue(
            dramatiq.Message(
                queue_name=CLOSE_QUEUE, actor_name=CLOSE_PERIOD, args=(str(period), chunk), kwargs={}, options={}
            )
        )


def enqueue_supplier_close(broker, supplier_id: str, period: Period) -> None:
    """Ask a worker to close `period` for the supplier `supplier_id`: its bills (durable once this returns)."""
    broker.enqueue(
        dramatiq.Message(
            queue_name=CLOSE_QUEUE,
            actor_name=CLOSE_SUPPLIER_PERIOD,
            args=(supplier_id, str(period)),
            kwargs={},
            options={},
        )
    )
