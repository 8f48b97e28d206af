"""Run one worker process: a dramatiq Worker on the durable broker, until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading

from dramatiq import Worker

from kashi.db import make_engine
from kashi.settings import Settings
from workers.actors import declare
from workers.broker import make_broker
from workers.liveness import start_stamping

log = logging.getLogger(__name__)


class RunningWorker:
    """A started worker; :meth:`stop` drains in-flight messages and returns."""

    def __init__(self, settings: Settings, database_url: str, redis_url: str, *, threads: int | None = None):
        self.engine = make_engine(database_url, pool_size=(threads or settings.worker_threads) + 1)
        self.broker = make_broker(
            redis_url,
            namespace=settings.queue_namespace,
            heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
            waitaof_timeout_ms=settings.waitaof_timeout_ms,
        )
        declare(self.broker, self.engine, max_attempts=settings.max_batch_attempts, namespace=settings.queue_namespace)
        self.worker = Worker(self.broker, worker_threads=threads or settings.worker_threads, worker_timeout=1000)
        self.worker.start()
        self._stamping = start_stamping(self.broker.client, settings.queue_namespace)
        from workers.webhooks import start_waker

        self._waker = start_waker(self.engine, self.broker)

    def stop(self) -> None:
        self._stamping.set()
        self._waker.stop()
        self.worker.stop(timeout=30_000)
        self.broker.close()
        self.engine.dispose()


def run_forever(settings: Settings, database_url: str, redis_url: str) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    worker = RunningWorker(settings, database_url, redis_url)
    log.info("worker ready")
    done.wait()
    log.info("worker stopping")
    worker.stop()
