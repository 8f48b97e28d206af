"""Container health checks of the Kashi image: ``python /app/healthcheck.py api [port]|worker|scheduler``.

Exit 0 when healthy. Each role checks what it alone can vouch for, so that one role's failure does
not mark every container unhealthy:

- ``api``: ``/healthz`` on this container answers (200 or 503) with the API, PostgreSQL and Redis ok
  (a missing worker is the workers' health, not this API's: the load balancer should keep it).
- ``worker``: this container's worker stamped its liveness in Redis within the heartbeat timeout
  (the stamp ``/healthz`` counts; it stops when the worker's threads stop).
- ``scheduler``: PostgreSQL and Redis answer from this container.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request


def api(port: int = 8000) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:  # 503: read why
        body = exc.read()
    except OSError:
        return False
    checks = json.loads(body).get("checks", {})
    return all(checks.get(name) == "ok" for name in ("api", "postgresql", "redis"))


def worker() -> bool:
    import redis

    from kashi.settings import Settings

    settings = Settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=4)
    mine = f"{socket.gethostname()}:".encode()
    stamps = [
        score
        for member, score in client.zrange(f"{settings.queue_namespace}:workers", 0, -1, withscores=True)
        if member.startswith(mine)
    ]
    return bool(stamps) and time.time() - max(stamps) < settings.heartbeat_timeout_ms / 1000


def scheduler() -> bool:
    import psycopg
    import redis

    from kashi.settings import Settings

    settings = Settings()
    redis.Redis.from_url(settings.redis_url, socket_timeout=4).ping()
    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, connect_timeout=4) as conn:
        conn.execute("SELECT 1")
    return True


if __name__ == "__main__":
    role, *port = sys.argv[1:] or ["api"]
    try:
        healthy = (
            api(int(port[0]))
            if role == "api" and port
            else {"api": api, "worker": worker, "scheduler": scheduler}[role]()
        )
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", said on stderr for `docker inspect`
        print(f"{role}: {type(exc).__name__}: {exc}", file=sys.stderr)
        healthy = False
    sys.exit(0 if healthy else 1)
