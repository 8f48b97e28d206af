"""Ingest receipts in the queue's server: what a 202 promised, until a worker records it.

A receipt is written in the same pipeline as the batch's message, after it and before ``WAITAOF``, so
it is as durable as the batch itself and costs no PostgreSQL round trip on the ingest path; it is
written only if the message was (:meth:`Receipts.write`):

- ``<ns>:receipt:<batch_id>``: a hash of ``events`` (as sent), ``key_id`` (the key that sent it),
  ``accepted_at`` (RFC 3339, UTC) and ``tenants`` (a JSON list of the batch's subjects);
- ``<ns>:receipts:pending``: a sorted set of batch ids acknowledged and not yet recorded, scored by
  acceptance time in epoch milliseconds: what a close of every tenant waits for;
- ``<ns>:receipts:tenant:<tenant_id>``: the same, narrowed to the batches holding that tenant's
  events: what a close of one tenant waits for, read without touching any other batch's receipt.
  A batch is added to and removed from its tenants' sets by the same script that writes (forgets)
  its receipt, so the sets and the receipts never disagree.

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
for i = 3, #KEYS do redis.call('zadd', KEYS[i], ARGV[2], ARGV[3]) end
return 1
"""
"""KEYS: the queue's messages, the receipt, the pending set, each tenant's set; ARGV: message id,
score, batch id, fields. Sent whole (``EVAL``): the server caches it by its digest, and a server
that forgot it runs it anyway."""

_FORGET = """
for i = 3, #ARGV do
  local id = ARGV[i]
  local tenants = redis.call('hget', ARGV[1] .. id, 'tenants')
  if tenants then
    for _, tenant in ipairs(cjson.decode(tenants)) do redis.call('zrem', ARGV[2] .. tenant, id) end
    redis.call('del', ARGV[1] .. id)
  end
  redis.call('zrem', KEYS[1], id)
  redis.call('zrem', KEYS[2], id)
end
return 0
"""
"""KEYS: the pending set, the set of batches whose tenants are unknown; ARGV: the receipts' key
prefix, the tenants' sets' prefix, then the batch ids. One batch's receipt, its entries in its
tenants' sets and in the pending set go together."""

_PENDING_OF = """
if redis.call('exists', KEYS[2]) == 0 then
  local ids = redis.call('zrange', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    local tenants = redis.call('hget', ARGV[1] .. ids[i], 'tenants')
    if tenants then
      for _, tenant in ipairs(cjson.decode(tenants)) do redis.call('zadd', ARGV[2] .. tenant, ids[i + 1], ids[i]) end
    else
      redis.call('zadd', KEYS[3], ids[i + 1], ids[i])
    end
  end
  redis.call('set', KEYS[2], '1')
end
return redis.call('zunion', 2, KEYS[4], KEYS[3])
"""
"""KEYS: the pending set, the marker that the tenants' sets are built, the set of batches whose
tenants are unknown, the tenant's set; ARGV: the receipts' key prefix, the tenants' sets' prefix.

The tenant's batches, oldest first, with those whose tenants are unknown (never assume a batch is
someone else's). The first call on a server builds the tenants' sets from the receipts pending
there, once: receipts written before the sets existed are then waited for like any other."""


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

    @property
    def _tenant_prefix(self) -> str:
        return f"{self.namespace}:receipts:tenant:"

    @property
    def _unknown(self) -> str:
        return f"{self.namespace}:receipts:unknown"

    def write(self, pipe, receipt: Receipt, messages: str, message_id: str) -> None:
        """Queue the receipt's writes on ``pipe``, the enqueue's pipeline, after the enqueue and
        before its WAITAOF. They are made by one script, and only if the batch's message
        ``message_id`` is then in the queue's hash ``messages``: an enqueue that failed leaves no
        receipt behind, which every close of its tenants would wait on in vain."""
        pipe.eval(
            _WRITE,
            3 + len(receipt.tenants),
            messages,
            self._key(receipt.batch_id),
            self._pending,
            *[self._tenant_prefix + tenant for tenant in receipt.tenants],
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
        batches holding events of that tenant (and any whose tenants are unknown), read from the
        tenant's own set: as cheap with a backlog of other tenants' batches as without."""
        try:
            if tenant_id is None:
                found = self.client.zrange(self._pending, 0, -1)
            else:
                found = self.client.eval(
                    _PENDING_OF,
                    4,
                    self._pending,
                    f"{self.namespace}:receipts:indexed",
                    self._unknown,
                    self._tenant_prefix + tenant_id,
                    self._key(""),
                    self._tenant_prefix,
                )
        except RedisError as exc:  # a close must not pass acknowledged batches by unseen
            raise Unavailable(f"the acknowledged batches could not be read from the queue: {exc}") from None
        return [i.decode() if isinstance(i, bytes) else i for i in found]

    def forget(self, batch_ids: list[str]) -> None:
        """Drop recorded batches from the pending sets and their queued receipts."""
        if batch_ids:
            self.client.eval(_FORGET, 2, self._pending, self._unknown, self._key(""), self._tenant_prefix, *batch_ids)


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
            "accepted_at": json_instant(row.accepted_at or row.first_seen),
            "recorded_at": json_instant(row.recorded_at),
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
        "accepted_at": json_instant(queued["accepted_at"]),
        "recorded_at": None,
        "key_id": queued["key_id"],
    }


def json_instant(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
