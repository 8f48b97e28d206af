"""``/healthz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from workers.liveness import live_workers

router = APIRouter(tags=["health"])


def _check(request: Request) -> dict:
    state = request.app.state
    checks = {"api": "ok"}
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["postgresql"] = "ok"
    except Exception as exc:  # noqa: BLE001 - health reports any failure as a reason
        checks["postgresql"] = f"down: {type(exc).__name__}"
    try:
        state.broker.client.ping()
        checks["redis"] = "ok"
        n = live_workers(
            state.broker.client, state.settings.queue_namespace, state.settings.heartbeat_timeout_ms / 1000
        )
        checks["workers"] = f"{n} ready" if n else "none ready"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
        checks["workers"] = "unknown"
    return checks


@router.get("/healthz", include_in_schema=True)
async def healthz(request: Request) -> JSONResponse:
    """200 only when the API, PostgreSQL, Redis and at least one worker are ready; 503 otherwise, and
    `checks` says which is not. No key needed."""
    checks = await run_in_threadpool(_check, request)
    ok = (
        all(v == "ok" for k, v in checks.items() if k != "workers")
        and checks["workers"].endswith(" ready")
        and not checks["workers"].startswith("none")
    )
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "instance": request.app.state.settings.instance_id,
    }  # which `kashi up` this API belongs to
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Request latencies, events accepted and rejected, queue depth, parked batches (Prometheus text).
    No key needed."""
    body = await run_in_threadpool(generate_latest, request.app.state.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
