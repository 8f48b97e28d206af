"""The HTTP API: ``create_app(settings)`` wires routers under ``/v1``; nothing connects at import."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry

from kashi.api import errors, openapi
from kashi.api.routes import (
    breach_risk,
    catalog,
    contracts,
    events,
    exports,
    fleet,
    health,
    invoices,
    issuer,
    margin,
    market,
    payments,
    periods,
    rating,
    receivables,
    statements,
    supplier_bills,
    suppliers,
    tenants,
    usage,
    utilization,
    webhooks,
)
from kashi.db import make_engine
from kashi.metrics import REQUEST_SECONDS, PipelineCollector
from kashi.settings import Settings
from workers.broker import make_broker, receipts_of

ROUTERS = (
    events,
    usage,
    rating,
    tenants,
    contracts,
    catalog,
    periods,
    invoices,
    payments,
    statements,
    exports,
    market,
    breach_risk,
    suppliers,
    supplier_bills,
    margin,
    issuer,
    receivables,
    webhooks,
    fleet,
    utilization,
)
"""Route modules mounted under ``/v1``, in this order; each exposes ``router``."""


class RequestTimer:
    """Each HTTP request's seconds by method, route and status (``kashi_http_request_duration_seconds``),
    from its first byte in to its last byte out. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` (``@app.middleware``) runs every response through an extra task and a
    memory stream, a cost paid on each of ingest's requests."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before it starts a response

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:
                route = "unmatched"
            elif scope["path"].startswith("/v1/") and not route.startswith("/v1/"):
                route = "/v1" + route  # routers included under /v1 report their own paths
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)


def create_app(settings: Settings, *, database_url: str, redis_url: str) -> FastAPI:
    """Build the app against the given servers (resolved by the caller: embedded or external)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(database_url, pool_size=10)
        app.state.broker = make_broker(
            redis_url,
            namespace=settings.queue_namespace,
            heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
            waitaof_timeout_ms=settings.waitaof_timeout_ms,
        )
        app.state.receipts = receipts_of(app.state.broker, settings.queue_namespace)
        registry = CollectorRegistry()
        for collector in (DEFAULT_REGISTRY,):
            registry.register(collector)
        registry.register(PipelineCollector(app.state.engine, app.state.broker.client, settings.queue_namespace))
        app.state.registry = registry
        yield
        app.state.engine.dispose()
        app.state.broker.close()

    app = FastAPI(
        title="Kashi",
        version="0.1.0",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # served from local assets by kashi.api.openapi
        description="Event-sourced metering and billing for GPU compute rental (卡时).",
    )
    app.state.settings = settings
    errors.install(app)

    app.add_middleware(RequestTimer)
    app.include_router(health.router)
    for module in ROUTERS:
        app.include_router(module.router, prefix="/v1")
    from kashi.console import mount

    mount(app, settings)
    openapi.install(app)
    return app
