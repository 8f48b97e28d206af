"""Kashi in one process for the demo, tests and benchmarks: servers, migrations, API, workers.

Everything is real: the embedded (or external) PostgreSQL and Valkey, uvicorn serving the app on
a loopback port, dramatiq workers on the durable broker.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from kashi.api.app import create_app
from kashi.db import make_engine
from kashi.keys import create_key
from kashi.migrate import upgrade
from kashi.servers import Servers, resolve
from kashi.settings import Settings
from workers.broker import INGEST_QUEUE
from workers.run import RunningWorker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalKashi:
    settings: Settings
    workers: int = 1
    worker_threads: int | None = None
    servers: Servers | None = None
    engine: object = None
    base_url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _workers: list[RunningWorker] = field(default_factory=list)

    def start(self) -> LocalKashi:
        self.servers = resolve(self.settings, start=True)
        self.engine = make_engine(self.servers.database_url, pool_size=10)
        upgrade(self.engine)
        self.start_api()
        for _ in range(self.workers):
            self.start_worker()
        return self

    def start_api(self, port: int | None = None) -> None:
        app = create_app(self.settings, database_url=self.servers.database_url, redis_url=self.servers.redis_url)
        port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kashi-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"

    def stop_api(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = None

    def start_worker(self) -> RunningWorker:
        worker = RunningWorker(
            self.settings, self.servers.database_url, self.servers.redis_url, threads=self.worker_threads
        )
        self._workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        while self._workers:
            self._workers.pop().stop()

    def key(self, role: str, *, tenant: str | None = None, source: str | None = None) -> str:
        with self.engine.begin() as conn:
            return create_key(conn, role, tenant_id=tenant, source=source)

    def join(self, timeout_s: float = 120) -> None:
        """Wait until the ingest queue is empty and every delivered message acknowledged."""
        if not self._workers:
            raise RuntimeError("no worker runs: nothing would ever drain the queue")
        self._workers[0].broker.join(INGEST_QUEUE, timeout=int(timeout_s * 1000))
        for worker in self._workers:
            worker.worker.join()

    def stop(self) -> None:
        self.stop_workers()
        self.stop_api()
        if self.engine is not None:
            self.engine.dispose()
        if self.servers is not None:
            self.servers.stop()

    def __enter__(self) -> LocalKashi:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
