"""Ingest receipts in the queue's server: what a 202 promised, until a worker records it.

A receipt is written in the same pipeline as the batch's message, after it and before ``WAITAOF``, so
it is as durable as the batch itself and costs no PostgreSQL round trip on the ingest path; it is
written only if the message was (:meth:`Receipts.write`):

- ``<ns>:receipt:<batch_id>``: a hash of ``events`` (as sent), ``key_id`` (the key that sent it),
  ``accepted_at`` (RFC 3339, UTC) and ``tenants`` (a JSON list of the batch's subjects);
- ``<ns>:receipts:pending``: a sorted set of batch ids acknowledged and not yet recorded, scored by
  acceptance time in epoch milliseconds. A month close waits for the ones holding its tenant.

The worker projects the receipt into ``ingest_batches`` in the transaction that records the batch,
then forgets it here. A worker that dies between the two leaves an id that PostgreSQL already calls
recorded; readers check PostgreSQL first and clear such ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from redis.exceptions import RedisError
from sqlalchemy import text

from kashi.errors import Unavailable

_WRITE = """
if redis.call('hexists', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[2], 'events', ARGV[4], 'key_id', ARGV[5], 'accepted_at', ARGV[6], 'tenants', ARGV[7])
redis.call('zadd', KEYS[3], ARGV[2], ARGV[3])
return 1
"""
"""KEYS: the queue's messages, the receipt, the pending set; ARGV: message id, score, batch id, fields.
Sent whole (``EVAL``): the server caches it by its digest, and a server that forgot it runs it anyway."""


@dataclass(frozen=True)
class Receipt:
    """What the 202 promised: the batch, how many events it held, who sent it and when."""

    batch_id: str
    events: int
    key_id: str | None
    accepted_at: datetime
    tenants: tuple[str, ...]

    def to_message(self) -> dict:
        """The part a worker needs to project the receipt (carried in the queued message)."""
        return {"events": self.events, "key_id": self.key_id, "accepted_at": self.accepted_at.isoformat()}


@dataclass(frozen=True)
class Receipts:
    """The receipts kept in one Redis/Valkey server under ``namespace`` (the queue's)."""

    client: object
    namespace: str = "kashi"

    def _key(self, batch_id: str) -> str:
        return f"{self.namespace}:receipt:{batch_id}"

    @property
    def _pending(self) -> str:
        return f"{self.namespace}:receipts:pending"

    def write(self, pipe, receipt: Receipt, messages: str, message_id: str) -> None:
        """Queue the receipt's writes on ``pipe``, the enqueue's pipeline, after the enqueue and
        before its WAITAOF. They are made by one script, and only if the batch's message
        ``message_id`` is then in the queue's hash ``messages``: an enqueue that failed leaves no
        receipt behind, which every close of its tenants would wait on in vain."""
        pipe.eval(
            _WRITE,
            3,
            messages,
            self._key(receipt.batch_id),
            self._pending,
            message_id,
            int(receipt.accepted_at.timestamp() * 1000),
            receipt.batch_id,
            receipt.events,
            receipt.key_id or "",
            receipt.accepted_at.isoformat(),
            orjson.dumps(list(receipt.tenants)),
        )

    def get(self, batch_id: str) -> dict | None:
        """The queued receipt of ``batch_id`` (events, key_id, accepted_at), or None."""
        raw = self.client.hgetall(self._key(batch_id))
        if not raw:
            return None
        values = {
            k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in raw.items()
        }
        return {
            "events": int(values["events"]),
            "key_id": values.get("key_id") or None,
            "accepted_at": datetime.fromisoformat(values["accepted_at"]),
        }

    def pending(self, tenant_id: str | None = None) -> list[str]:
        """Batch ids acknowledged and not yet forgotten, oldest first; with ``tenant_id`` only the
        batches holding events of that tenant."""
        try:
            ids = [i.decode() if isinstance(i, bytes) else i for i in self.client.zrange(self._pending, 0, -1)]
            if tenant_id is None or not ids:
                return ids
            pipe = self.client.pipeline(transaction=False)
            for batch_id in ids:
                pipe.hget(self._key(batch_id), "tenants")
            found = pipe.execute()
        except RedisError as exc:  # a close must not pass acknowledged batches by unseen
            raise Unavailable(f"the acknowledged batches could not be read from the queue: {exc}") from None
        kept = []
        for batch_id, tenants in zip(ids, found, strict=True):
            if tenants is None or tenant_id in orjson.loads(tenants):
                kept.append(batch_id)  # a receipt without its hash is kept: never assume it is elsewhere
        return kept

    def forget(self, batch_ids: list[str]) -> None:
        """Drop recorded batches from the pending set and their queued receipts."""
        if not batch_ids:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self._pending, *batch_ids)
        pipe.delete(*[self._key(b) for b in batch_ids])
        pipe.execute()


def receipt_for(batch_id: str, events: int, key_id: str | None, tenants) -> Receipt:
    return Receipt(batch_id, events, key_id, datetime.now(UTC), tuple(sorted(set(tenants))))


def view(conn, receipts: Receipts, batch_id: str) -> dict | None:
    """``GET /v1/ingest/batches/{id}``: PostgreSQL's projection once a worker has the batch, else the
    queued receipt; None when neither knows it. ``key_id`` says who may read it (not shown)."""
    row = conn.execute(
        text("""SELECT status, events, new_events, key_id, accepted_at, recorded_at, first_seen
                               FROM ingest_batches WHERE batch_id = :b"""),
        {"b": batch_id},
    ).first()
    if row is not None and row.status in ("done", "parked"):
        new = row.new_events if row.status == "done" else None
        return {
            "batch_id": batch_id,
            "status": "recorded" if row.status == "done" else "parked",
            "events": row.events,
            "new": new,
            "duplicates": None if new is None else row.events - new,
            "accepted_at": _json_instant(row.accepted_at or row.first_seen),
            "recorded_at": _json_instant(row.recorded_at),
            "key_id": row.key_id,
        }
    queued = receipts.get(batch_id)
    if queued is None and row is None:
        return None
    if queued is None:
        queued = {"events": row.events, "key_id": row.key_id, "accepted_at": row.accepted_at or row.first_seen}
    return {
        "batch_id": batch_id,
        "status": "queued",
        "events": queued["events"],
        "new": None,
        "duplicates": None,
        "accepted_at": _json_instant(queued["accepted_at"]),
        "recorded_at": None,
        "key_id": queued["key_id"],
    }


def _json_instant(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
