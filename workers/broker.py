"""The dramatiq broker: Redis (or Valkey) with enqueues made durable by ``WAITAOF``.

Recovery from a dead worker: each worker heartbeats every few seconds; a worker silent for
``heartbeat_timeout`` (default 15 s) is presumed dead, and the broker's maintenance, which runs on
about 5 % of broker commands (workers issue one every fetch), puts its unacknowledged messages
back on the queue. Together they redeliver a dead worker's batch within seconds, not minutes.
"""

from __future__ import annotations

from uuid import uuid4

import orjson
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, current_millis
from dramatiq.encoder import Encoder
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit
from redis.exceptions import NoScriptError, RedisError

from kashi.errors import Unavailable
from metering.receipts import Receipt, Receipts

INGEST_QUEUE = "ingest"
RECORD_USAGE = "record_usage"
MAINTENANCE_CHANCE = 50_000
"""Out of dramatiq's 1,000,000: the share of broker commands that also requeue dead workers' messages."""


class OrjsonEncoder(Encoder):
    """JSON on the wire, by orjson: ingest messages carry up to 10,000 events."""

    def encode(self, data) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes):
        return orjson.loads(data)


class NotDurable(RuntimeError):
    """Redis did not confirm that the enqueued message reached its append-only file."""


class DurableRedisBroker(RedisBroker):
    """A :class:`RedisBroker` whose enqueue returns only once the message is fsynced to the AOF.

    The enqueue script and ``WAITAOF 1 0 <timeout>`` go in one pipeline on one connection, so
    ``WAITAOF`` waits for exactly this write. With ``appendfsync everysec`` that is at most about
    a second; a server without AOF answers with an error, and the enqueue fails loudly.
    """

    def __init__(self, *, waitaof_timeout_ms: int = 2000, **kwargs):
        super().__init__(**kwargs)
        self.waitaof_timeout_ms = waitaof_timeout_ms

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes, also=None):
        """Enqueue and wait for the fsync; ``also(pipe, messages, message_id)`` adds writes after the
        enqueue's, made durable by the same WAITAOF (``messages``: the queue's hash of messages)."""
        args = [
            "enqueue",
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance("enqueue"),
            self._max_unpack_size(),
            message_id,
            data,
        ]
        script = self.scripts["dispatch"]
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            # EVALSHA itself, not the Script: a pipeline holding a Script asks SCRIPT EXISTS first,
            # a round trip per request for what the server forgets only when it restarts
            pipe.evalsha(script.sha, 1, self.namespace, *args)
            if also is not None:
                also(pipe, f"{self.namespace}:{queue_name}.msgs", message_id)
            pipe.execute_command("WAITAOF", 1, 0, self.waitaof_timeout_ms)
            results = pipe.execute(raise_on_error=False)
            if attempt == 0 and isinstance(results[0], NoScriptError):
                # the server restarted or flushed its scripts: load it, send the whole pipeline again
                # (the script did not run, so neither did the writes that follow it, the receipt's)
                script.sha = self.client.script_load(script.script)
                continue
            break
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None:
            raise failed
        local, _replicas = results[-1]
        if local < 1:
            raise NotDurable(f"the AOF was not fsynced within {self.waitaof_timeout_ms} ms")

    def enqueue_with(self, message: Message, also) -> Message:
        """:meth:`enqueue` (no delay) with ``also``'s writes in the same durable pipeline (:meth:`do_enqueue`)."""
        message = message.copy(options={"redis_message_id": str(uuid4())})
        self.emit_before("enqueue", message, None)
        self.do_enqueue(message.queue_name, message.options["redis_message_id"], message.encode(), also)
        self.emit_after("enqueue", message, None)
        return message


def make_broker(
    redis_url: str,
    *,
    namespace: str = "kashi",
    heartbeat_timeout_ms: int = 15_000,
    waitaof_timeout_ms: int = 2000,
    middleware: list | None = None,
) -> DurableRedisBroker:
    """Build the broker (nothing connects until first use)."""
    import dramatiq

    dramatiq.set_encoder(OrjsonEncoder())
    base = [
        AgeLimit(),
        TimeLimit(time_limit=600_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=20, min_backoff=500, max_backoff=30_000),
    ]
    return DurableRedisBroker(
        url=redis_url,
        namespace=namespace,
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=MAINTENANCE_CHANCE,
        waitaof_timeout_ms=waitaof_timeout_ms,
        middleware=base + list(middleware or []),
    )


def receipts_of(broker: DurableRedisBroker, namespace: str) -> Receipts:
    """The ingest receipts kept beside ``broker``'s queues."""
    return Receipts(broker.client, namespace)


def enqueue_usage(
    broker: DurableRedisBroker,
    batch_id: str,
    rows: list[list],
    receipt: Receipt | None = None,
    receipts: Receipts | None = None,
) -> None:
    """Put one validated batch on the ingest queue as one message, with its receipt (written in the same
    pipeline, after the message and only if it was queued, before the WAITAOF); returns once both are durable.

    Raises :class:`~kashi.errors.Unavailable` when the queue is down or not durable: the client retries."""
    kwargs = {} if receipt is None else {"receipt": receipt.to_message()}
    message = Message(
        queue_name=INGEST_QUEUE, actor_name=RECORD_USAGE, args=(batch_id, rows), kwargs=kwargs, options={}
    )
    try:
        if receipt is None or receipts is None:
            broker.enqueue(message)
        else:
            broker.enqueue_with(
                message, lambda pipe, messages, message_id: receipts.write(pipe, receipt, messages, message_id)
            )
    except (RedisError, NotDurable) as exc:
        raise Unavailable(f"the batch could not be durably queued: {exc}") from None
