"""Service: a request body → a validated batch, durably queued → the number accepted (SPEC §3).

Nothing of an invalid batch is kept: validation is whole, and the only write is one enqueue
that returns after Redis has fsynced it (:class:`workers.broker.DurableRedisBroker`).
"""

from __future__ import annotations

import uuid

import orjson

from kashi.errors import BatchRejected, BatchTooLarge, SourceNotAllowed, ValidationFailed
from metering.events import MAX_BYTES, MAX_EVENTS, UsageRecord, fast_rows, validate_rows

CONTENT_TYPES = ("application/cloudevents-batch+json", "application/json", "application/cloudevents+json")


def parse(body: bytes) -> tuple[list[UsageRecord], int]:
    """Decode and validate a request body into its records (a repeat of one ``(source, id)`` in the
    same batch kept once) and the number of events it held; raise BatchTooLarge, ValidationFailed
    or BatchRejected."""
    rows, count = parse_rows(body)
    return [UsageRecord.from_wire(row) for row in rows], count


def parse_rows(body: bytes) -> tuple[list[list], int]:
    """:func:`parse`, answering the records as their queue rows (:meth:`UsageRecord.to_wire`): what
    the API does per request. A body of plain events takes the fast path
    (:func:`metering.events.fast_rows`, no records built); any other, the full validator."""
    if len(body) > MAX_BYTES:
        raise BatchTooLarge(f"the body is {len(body)} bytes; at most {MAX_BYTES} per request")
    fast = fast_rows(body)
    if fast is not None:
        return fast
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed.of("body", f"not valid JSON: {exc}") from None
    if b"\\u0000" in body and _has_nul(payload):  # PostgreSQL stores no NUL in text or JSONB
        raise ValidationFailed.of("body", "must not contain NUL characters (\\u0000)")
    if isinstance(payload, list) and len(payload) > MAX_EVENTS:
        raise BatchTooLarge(f"the batch has {len(payload)} events; at most {MAX_EVENTS} per request")
    return validate_rows(payload), len(payload) if isinstance(payload, list) else 1


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def check_source(rows: list[list] | list[UsageRecord], bound_source: str | None, body: bytes | None = None) -> None:
    """An agent key sends only events of the source it is bound to (SPEC §9); ``rows`` as from
    :func:`parse_rows` (or records, as from :func:`parse`). With the request's ``body`` the 403
    names the positions in the request, which a repeated event kept once would otherwise shift."""
    if bound_source is None:
        return
    bad = [i for i, row in enumerate(rows) if (row[1] if type(row) is list else row.source) != bound_source]
    if bad and body is not None:
        events = orjson.loads(body)  # valid: parsed already; only on the way to a 403
        events = events if isinstance(events, list) else [events]
        bad = [i for i, event in enumerate(events) if event.get("source") != bound_source]
    if bad:
        raise SourceNotAllowed(bad, bound_source)


def accept(enqueue, rows: list[list]) -> str:
    """Enqueue the batch's rows (as from :func:`parse_rows`) as one message via ``enqueue(batch_id,
    rows)``; return the batch id."""
    batch_id = uuid.uuid4().hex
    enqueue(batch_id, rows)
    return batch_id


__all__ = ["BatchRejected", "BatchTooLarge", "SourceNotAllowed", "accept", "check_source", "parse", "parse_rows"]
