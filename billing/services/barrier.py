"""The close barrier: a close includes every batch acknowledged (202) before it began.

Before a close reads its ingest watermark it takes the ids of the batches acknowledged and not yet
recorded (the pending receipts, narrowed to the tenant when one is closed) and waits until
PostgreSQL has recorded each, for at most ``timeout_s`` (``KASHI_CLOSE_DRAIN_TIMEOUT_S``, default
60 s). A parked batch will not be recorded without an operator, so it fails the close at once; so does
the deadline passing with batches still queued (workers down or far behind). Either way the close
issues nothing and answers 409 with each batch id and its status in ``details``.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine

from kashi.errors import BatchesNotRecorded
from metering.receipts import Receipts
from metering.record import statuses

log = logging.getLogger(__name__)
POLL_S = 0.05


def wait_for_acknowledged(
    engine: Engine, receipts: Receipts, tenant_id: str | list[str] | None, timeout_s: float
) -> None:
    """Return once every batch acknowledged before now (holding ``tenant_id``'s events — any of
    them, given a list of tenants — or any batch when None) is recorded; raise
    :class:`BatchesNotRecorded` naming those that are not."""
    if tenant_id is None or isinstance(tenant_id, str):
        waiting = receipts.pending(tenant_id)
    else:  # each tenant's own set: a backlog of other tenants' batches does not hold the close up
        waiting = list(dict.fromkeys(b for tenant in tenant_id for b in receipts.pending(tenant)))
    deadline = time.monotonic() + timeout_s
    while waiting:
        known = statuses(engine, waiting)
        recorded = [b for b in waiting if known.get(b) == "done"]
        receipts.forget(recorded)  # a worker that died after its commit left these behind
        waiting = [b for b in waiting if known.get(b) != "done"]
        parked = [b for b in waiting if known.get(b) == "parked"]
        if parked or (waiting and time.monotonic() >= deadline):
            details = [_detail(b, known.get(b) == "parked", timeout_s) for b in waiting]
            log.warning(
                "close refused: acknowledged batches not recorded", extra={"tenant_id": tenant_id, "batch_ids": waiting}
            )
            raise BatchesNotRecorded(
                f"{len(waiting)} acknowledged batch(es) are not recorded; nothing was issued: {', '.join(waiting)}",
                details,
            )
        if waiting:
            time.sleep(POLL_S)


def _detail(batch_id: str, parked: bool, timeout_s: float) -> dict:
    if parked:
        return {
            "field": "batch_id",
            "batch_id": batch_id,
            "status": "parked",
            "reason": "parked after failed deliveries: an operator must resolve it",
        }
    return {
        "field": "batch_id",
        "batch_id": batch_id,
        "status": "queued",
        "reason": f"not recorded within {timeout_s:g} s (are the workers running?)",
    }
