"""Webhook delivery: the actor, and the listener that wakes it (SPEC §13).

- `deliver_webhooks` (queue "webhooks") makes one service call, `billing.services.webhooks.deliver_due`,
  which attempts every due delivery and schedules the failed ones with exponential backoff in the
  database (`next_attempt_at`: 2 s, 4 s, 8 s … at most 1 h apart, for 25 h).
- Each worker process runs a `Waker` thread: it LISTENs on the outbox's NOTIFY channel (sent at the
  commit of a transaction that emitted events) and enqueues `deliver_webhooks` then, and again when the
  earliest scheduled retry falls due (the scheduled re-enqueue), and at least every POLL_S as a safety
  net. The retry schedule lives in PostgreSQL, so a restart of every worker and of Redis loses none.
"""

from __future__ import annotations

import logging
import threading
import time

import dramatiq
import psycopg
from sqlalchemy import Engine

from billing.services.webhooks import deliver_due, seconds_to_next
from billing.store.outbox import CHANNEL

log = logging.getLogger(__name__)
WEBHOOK_QUEUE = "webhooks"
DELIVER_WEBHOOKS = "deliver_webhooks"
POLL_S = 30.0
MIN_GAP_S = 1.0
"""At most one wake-up per second per worker while deliveries are due but not yet claimed."""


def declare(broker, engine: Engine) -> dict[str, dramatiq.Actor]:
    def deliver_webhooks() -> None:
        deliver_due(engine)

    actor = dramatiq.actor(
        deliver_webhooks,
        actor_name=DELIVER_WEBHOOKS,
        queue_name=WEBHOOK_QUEUE,
        broker=broker,
        max_retries=3,
        min_backoff=1_000,
        max_backoff=10_000,
    )
    return {DELIVER_WEBHOOKS: actor}


def enqueue_delivery(broker) -> None:
    broker.enqueue(
        dramatiq.Message(queue_name=WEBHOOK_QUEUE, actor_name=DELIVER_WEBHOOKS, args=(), kwargs={}, options={})
    )


def _dsn(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Waker(threading.Thread):
    """Enqueue a delivery pass when events commit or retries fall due (see the module docstring)."""

    def __init__(self, engine: Engine, broker) -> None:
        super().__init__(name="kashi-webhook-waker", daemon=True)
        self.engine, self.broker = engine, broker
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self._listen()
            except psycopg.OperationalError as exc:  # PostgreSQL restarting, or stopped before this worker
                if not self.stopped.is_set():
                    log.warning(
                        "webhook waker lost its database connection (%s); reconnecting", str(exc).splitlines()[0]
                    )
                self.stopped.wait(MIN_GAP_S * 5)
            except Exception:  # keep waking through a Redis restart
                log.exception("webhook waker failed; restarting")
                self.stopped.wait(MIN_GAP_S * 5)

    def _listen(self) -> None:
        with psycopg.connect(_dsn(self.engine), autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._wake_if_due()
            while not self.stopped.is_set():
                wait = seconds_to_next(self.engine)
                timeout = POLL_S if wait is None else max(MIN_GAP_S, min(POLL_S, wait))
                notified = any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
                if self.stopped.is_set():
                    return
                if notified:
                    time.sleep(0.05)  # let a burst of commits arrive together
                    enqueue_delivery(self.broker)
                else:
                    self._wake_if_due()

    def _wake_if_due(self) -> None:
        wait = seconds_to_next(self.engine)
        if wait is not None and wait <= 0:
            enqueue_delivery(self.broker)

    def stop(self) -> None:
        self.stopped.set()


def start_waker(engine: Engine, broker) -> Waker:
    waker = Waker(engine, broker)
    waker.start()
    return waker
