"""``POST /v1/events``: CloudEvents batches in, 202 once durably queued (SPEC §3)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kashi.api.deps import Agent
from kashi.errors import BatchRejected, BatchTooLarge, PayloadTooLarge, UnsupportedMediaType
from kashi.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED
from metering import ingest
from metering.events import MAX_BYTES
from workers.broker import enqueue_usage

router = APIRouter(tags=["events"])


@router.post("/events", status_code=202, summary="Send a batch of usage events (CloudEvents 1.0)")
async def post_events(request: Request, principal: Agent) -> JSONResponse:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in ingest.CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"content type {media!r} is not accepted",
            [{"field": "Content-Type", "reason": "use application/cloudevents-batch+json"}],
        )
    if int(request.headers.get("content-length") or 0) > MAX_BYTES:
        raise PayloadTooLarge(f"at most {MAX_BYTES} bytes per request")
    body = await request.body()
    try:
        records, count = await run_in_threadpool(ingest.parse, body)
    except (BatchTooLarge, BatchRejected):
        EVENTS_REJECTED.inc()
        raise
    ingest.check_source(records, principal.source if principal.role == "agent" else None)
    broker = request.app.state.broker
    await run_in_threadpool(ingest.accept, lambda b, rows: enqueue_usage(broker, b, rows), records)
    EVENTS_ACCEPTED.inc(count)
    return JSONResponse({"accepted": count}, status_code=202)
