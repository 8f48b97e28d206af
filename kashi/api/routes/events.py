"""``POST /v1/events``: CloudEvents batches in, 202 once durably queued (SPEC §3)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from kashi.api.deps import Agent
from kashi.api.errors import Forbidden, PayloadTooLarge, Unavailable, UnsupportedMediaType
from kashi.errors import ValidationFailed
from kashi.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED
from metering import ingest
from metering.events import MAX_BYTES, BatchRejected
from workers.broker import NotDurable, enqueue_usage

router = APIRouter(tags=["events"])


@router.post("/events", status_code=202, summary="Send a batch of usage events (CloudEvents 1.0)")
async def post_events(request: Request, principal: Agent) -> JSONResponse:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in ingest.CONTENT_TYPES:
        raise UnsupportedMediaType(f"content type {media!r} is not accepted",
                                   [{"field": "Content-Type", "reason": "use application/cloudevents-batch+json"}])
    if int(request.headers.get("content-length") or 0) > MAX_BYTES:
        raise PayloadTooLarge(f"at most {MAX_BYTES} bytes per request")
    body = await request.body()
    try:
        records, count = await run_in_threadpool(ingest.parse, body)
        ingest.check_source(records, principal.source if principal.role == "agent" else None)
    except ingest.BatchTooLarge as exc:
        EVENTS_REJECTED.inc()
        raise PayloadTooLarge(str(exc)) from None
    except BatchRejected as exc:
        EVENTS_REJECTED.inc()
        raise ValidationFailed(f"the batch is invalid; nothing of it was kept ({len(exc.details)} problems)",
                               exc.details) from None
    except ingest.SourceNotAllowed as exc:
        raise Forbidden(str(exc), [{"index": i, "field": "source", "reason": "not this key's source"}
                                   for i in exc.indexes]) from None
    broker = request.app.state.broker
    try:
        await run_in_threadpool(ingest.accept, lambda b, rows: enqueue_usage(broker, b, rows), records)
    except (RedisError, NotDurable) as exc:  # the queue is down or not durable: the client retries
        raise Unavailable(f"the batch could not be durably queued: {exc}") from None
    EVENTS_ACCEPTED.inc(count)
    return JSONResponse({"accepted": count}, status_code=202)
