"""``POST /v1/events``: CloudEvents batches in, 202 once durably queued (CloudEvents 1.0; receipts and their status)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kashi.api.deps import Agent, ConnDep, CurrentPrincipal
from kashi.errors import BatchRejected, BatchTooLarge, NotFound, PayloadTooLarge, UnsupportedMediaType
from kashi.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED
from metering import ingest
from metering.events import MAX_BYTES
from metering.receipts import receipt_for
from metering.receipts import view as receipts_view
from workers.broker import enqueue_usage

router = APIRouter(tags=["events"])


@router.post("/events", status_code=202)
async def post_events(request: Request, principal: Agent) -> JSONResponse:
    """A JSON array of CloudEvents 1.0 (batch mode) or one event (structured mode); binary mode (ce-*
    headers) answers 415. Validated whole: one bad event answers 422 naming each bad index and field,
    and nothing is kept. At most 10,000 events or 5 MiB (413). 202 only once the batch is durably
    queued, with the `batch_id` to follow; (source, id) makes a resend harmless. An agent key sends
    only its own source (403)."""
    if any(name.lower().startswith("ce-") for name in request.headers):
        raise UnsupportedMediaType(
            "CloudEvents binary mode (ce-* headers) is not accepted: send the event in structured mode "
            "(Content-Type: application/cloudevents+json) or a batch (application/cloudevents-batch+json)",
            [{"field": "ce-specversion", "reason": "put the event's attributes in a JSON body instead of headers"}],
        )
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in ingest.CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"content type {media!r} is not accepted",
            [{"field": "Content-Type", "reason": "use application/cloudevents-batch+json"}],
        )
    if int(request.headers.get("content-length") or 0) > MAX_BYTES:
        raise PayloadTooLarge(f"at most {MAX_BYTES} bytes per request")
    body = await request.body()
    bound_source = principal.source if principal.role == "agent" else None
    broker, receipts = request.app.state.broker, request.app.state.receipts

    def accept() -> tuple[str, int]:
        # one trip to the threadpool: a 1,000-event body takes milliseconds to parse, off the event loop
        try:
            rows, count = ingest.parse_rows(body)
        except (BatchTooLarge, BatchRejected):
            EVENTS_REJECTED.inc()
            raise
        ingest.check_source(rows, bound_source, body)
        tenants = {row[3] for row in rows}

        def enqueue(batch_id: str, rows: list[list]) -> None:
            enqueue_usage(broker, batch_id, rows, receipt_for(batch_id, count, principal.key_id, tenants), receipts)

        return ingest.accept(enqueue, rows), count

    batch_id, count = await run_in_threadpool(accept)
    EVENTS_ACCEPTED.inc(count)
    return JSONResponse({"accepted": count, "batch_id": batch_id}, status_code=202)


@router.get("/ingest/batches/{batch_id}")
def get_batch(batch_id: str, request: Request, conn: ConnDep, principal: CurrentPrincipal) -> dict:
    """What became of a batch the API acknowledged (202): ``queued`` until a worker records it, then
    ``recorded`` with how many events were new and how many were duplicates of events already kept,
    or ``parked`` when it failed delivery too often. Only the key that sent it, or an operator, reads it;
    anyone else gets 404."""
    found = receipts_view(conn, request.app.state.receipts, batch_id)
    sender = None if found is None else found.pop("key_id")
    if found is None or (principal.role != "operator" and sender != principal.key_id):
        raise NotFound(f"batch {batch_id} not found", [{"field": "batch_id", "reason": "not found"}])
    return found
