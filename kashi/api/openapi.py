"""The OpenAPI reference (``/openapi.json``, ``/docs``): bodies, errors, security and tags.

FastAPI derives paths, parameters and each operation's description (the route's docstring) from the
routes; this applies :data:`kashi.api.schemas.operations.OPERATIONS`, the one table of what FastAPI
cannot see: each operation's summary, request and answer models (:mod:`kashi.api.schemas`), the
``{"error": {"code", "message", "details"}}`` body on every error status (in place of FastAPI's
HTTPValidationError), the bearer scheme on every ``/v1`` operation, and one tag per resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from kashi.api.schemas.common import Error
from kashi.api.schemas.events import CloudEvent
from kashi.api.schemas.operations import OPERATIONS

ASSETS = "/docs-assets"
"""Where Swagger UI's and ReDoc's scripts are served from (the fastapi-offline package's copies)."""
TAGS = [
    {"name": "events", "description": "Usage in: CloudEvents 1.0 batches from node agents, and their receipts."},
    {
        "name": "usage",
        "description": "Usage read back: card-hours and tokens per hour/day/month, conflicts, late "
        "usage, parked batches.",
    },
    {"name": "rating", "description": "Usage no contract item rates yet: kept, shown, billed once one does."},
    {"name": "tenants", "description": "The customers: timezone and currency their months and invoices use."},
    {
        "name": "contracts",
        "description": "Signed terms and items; amendments and terminations are events on the contract's stream.",
    },
    {"name": "catalog", "description": "GPU models and their FP16 TFLOPS."},
    {"name": "periods", "description": "Month close: on demand, and the periods that wait for an operator."},
    {"name": "invoices", "description": "Issued invoices (immutable) and their credit notes."},
    {"name": "payments", "description": "Money received, and each tenant's balance."},
    {"name": "statements", "description": "A tenant's month: opening balance, invoices, credit notes, payments."},
    {"name": "exports", "description": "Finance exports: every invoice line of a month."},
    {"name": "receivables", "description": "What tenants owe: aged receivables and the preview of a next invoice."},
    {"name": "issuer", "description": "The operator's own billing profile printed on every document."},
    {"name": "webhooks", "description": "Signed HTTP callbacks for invoices, payments, closes and parked batches."},
    {"name": "fleet", "description": "The GPUs that report status: their last state, and their retirement."},
    {"name": "reports", "description": "Utilisation of the fleet, breach risk of contracts, the broker's margin."},
    {"name": "market", "description": "Observed market rents per GPU model, the reference for breach risk."},
    {"name": "suppliers", "description": "Who sells us capacity under payable contracts, and what we owe them."},
    {"name": "supplier-bills", "description": "What suppliers bill us each month (KP- numbers), and their lines."},
    {"name": "health", "description": "Liveness and Prometheus metrics (no key needed)."},
]
ERRORS = {
    "401": "No key, or a key that is unknown or revoked.",
    "403": "A valid key whose role may not do this.",
    "404": "Not found, or belongs to another tenant.",
    "409": "Conflicts with the current state (a closed period, a moved-on version, unrecorded batches …).",
    "422": "Invalid input; `details` names each bad field. Unknown fields are refused.",
}
INGEST_ERRORS = {
    "413": "More than 10,000 events or 5 MiB in one request.",
    "415": "Not JSON, or a CloudEvents binary-mode request (ce-* headers): use structured or batch mode.",
    "503": "The queue could not make the batch durable: nothing was kept; retry.",
}
DESCRIPTION = """Event-sourced metering and billing for GPU compute rental (卡时).

Send `Authorization: Bearer <key>` (keys come from `kashi keys create --role operator|finance|tenant|agent`).
Operators do everything; finance reads billing and records payments and credit notes; a tenant key reads
its own tenant only (another tenant's resources answer 404); an agent key only sends events of its source.
Money is a decimal string with two places. Instants are RFC 3339 with an offset. Lists answer
`{"items": [...], "next_cursor": ...}`. Every error answers `{"error": {"code", "message", "details"}}`.
A walk-through of a whole month is in docs/API.md."""


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _add(components: dict, model: type[BaseModel]) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return _ref(model.__name__)


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes, tags=TAGS)
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        models.pop(name, None)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A Kashi key, shown once by `kashi keys create`."}
    }
    error = _add(models, Error)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            parameters = [p for p in operation.get("parameters", []) if p["name"].lower() != "authorization"]
            if parameters:  # the key is the bearer scheme's, not a header each operation asks for
                operation["parameters"] = parameters
            else:
                operation.pop("parameters", None)
            doc = OPERATIONS.get((method.upper(), path))
            if doc is not None:  # tests/unit/test_openapi.py fails for an operation missing from the table
                operation["summary"] = doc.summary
                _document(models, operation, responses, doc)
            if path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
                extra = INGEST_ERRORS if path == "/v1/events" else {}
                for status, text in {**ERRORS, **extra}.items():
                    responses[status] = {"description": text, "content": {"application/json": {"schema": error}}}
            elif path == "/healthz":
                responses["503"] = {"description": "PostgreSQL, Redis or every worker is down (checks say which)."}
    return schema


def _document(models: dict, operation: dict, responses: dict, doc) -> None:
    if doc.request is not None:
        body = _add(models, doc.request)
        content = {"application/json": {"schema": body}}
        if doc.request is CloudEvent:
            batch = {"type": "array", "items": body, "maxItems": 10_000}
            content = {
                "application/cloudevents-batch+json": {"schema": batch},
                "application/json": {"schema": batch},
                "application/cloudevents+json": {"schema": body},
            }
        operation["requestBody"] = {"required": True, "content": content}
    ok = next((s for s in responses if s.startswith("2")), "200")
    if ok == "204":
        return
    answer = responses.setdefault(ok, {"description": "OK"})
    content: dict[str, Any] = {}
    if doc.answer is not None:
        content["application/json"] = {"schema": _add(models, doc.answer)}
    for media, text in doc.media.items():
        content[media] = {"schema": {"type": "string", "format": "binary", "description": text}}
    answer["content"] = content
    for status, (model, text) in doc.also.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _add(models, model)}}}


def install(app: FastAPI) -> None:
    """Serve :func:`build`'s schema at ``/openapi.json`` (built once, on first request), and ``/docs``
    (Swagger UI) and ``/redoc`` from assets installed with Kashi: the reference works with no internet."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Kashi API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True, "docExpansion": "list"},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Kashi API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
