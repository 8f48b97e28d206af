"""Worker liveness for ``/healthz``: each worker process stamps a sorted set every few seconds."""

from __future__ import annotations

import os
import socket
import threading
import time


def _key(namespace: str) -> str:
    return f"{namespace}:workers"


def stamp(client, namespace: str, worker_id: str) -> None:
    client.zadd(_key(namespace), {worker_id: time.time()})


def live_workers(client, namespace: str, timeout_s: float) -> int:
    """Workers that stamped within ``timeout_s``."""
    return client.zcount(_key(namespace), time.time() - timeout_s, "+inf")


def start_stamping(client, namespace: str, every_s: float = 3.0) -> threading.Event:
    """Stamp from a daemon thread until the returned event is set (then remove the stamp)."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                stamp(client, namespace, worker_id)
            except Exception:  # noqa: BLE001 - Redis may be restarting; try again next beat
                pass
            stop.wait(every_s)
        try:
            client.zrem(_key(namespace), worker_id)
        except Exception:  # noqa: BLE001
            pass

    threading.Thread(target=run, name="kashi-liveness", daemon=True).start()
    return stop
