"""The OpenAPI reference (``/openapi.json``, ``/docs``): bodies, errors, security and tags.

FastAPI derives paths and parameters from the routes; this fills in what it cannot see because the
routes validate their bodies by hand (:mod:`kashi.api.schemas`): each operation's request and answer
models, the ``{"error": {"code", "message", "details"}}`` body on every error status (in place of
FastAPI's HTTPValidationError), the bearer scheme on every ``/v1`` operation, and one tag per resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from kashi.api.fields import BODIES
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


WHAT = {
    ("GET", "/healthz"): (
        "Is Kashi ready?",
        "200 only when the API, PostgreSQL, Redis and at least one worker are "
        "ready; `checks` says which is not. No key needed.",
    ),
    ("GET", "/metrics"): (
        "Prometheus metrics",
        "Request latencies, events accepted and rejected, queue depth, parked batches. No key needed.",
    ),
    ("POST", "/v1/tenants"): (
        "Create a tenant",
        "Operators only. `timezone` and `currency` default to Asia/Shanghai and CNY. An existing id answers 409.",
    ),
    ("GET", "/v1/tenants/{tenant_id}"): ("Read a tenant", "A tenant key reads its own only (404 otherwise)."),
    ("POST", "/v1/contracts"): (
        "Sign a contract",
        "Operators only. Recorded as the first event of the contract's stream; answers the contract as it stands now.",
    ),
    ("GET", "/v1/contracts"): (
        "List contracts",
        "A tenant key lists its own; operators and finance may name a tenant.",
    ),
    ("GET", "/v1/contracts/{contract_id}"): (
        "Read a contract",
        "As it stands at `at` (default now). The ETag is its version: send it as If-Match to amend or terminate.",
    ),
    ("GET", "/v1/contracts/{contract_id}/events"): (
        "The contract's event stream",
        "Signed, amended, terminated: the contract at any instant is the fold of these.",
    ),
    ("POST", "/v1/contracts/{contract_id}/amendments"): (
        "Amend an item",
        "Change an item's machines, capacity_p or "
        "committed_card_hours from `effective_at`; a reduction inside the closed term carries the penalty on the "
        "part removed. Not inside a closed period (409). If-Match: the version read (409 when it moved on).",
    ),
    ("GET", "/v1/contracts/{contract_id}/termination-quote"): (
        "Quote a termination",
        "The penalty or notice in lieu a termination effective at `effective_at` would bill, without acting.",
    ),
    ("POST", "/v1/contracts/{contract_id}/termination"): (
        "Terminate a contract",
        "Fees end at `effective_at`. "
        "Inside the closed term: a penalty line; inside the open term: notice in lieu up to notice_given_at + "
        "notice_days. Not inside a closed period (409).",
    ),
    ("POST", "/v1/gpu-models"): ("Add a GPU model", "Operators only: a model the built-in catalog lacks."),
    ("GET", "/v1/gpu-models"): ("List GPU models", "Built-in models and those operators added."),
    ("GET", "/v1/invoices/{invoice_id}"): (
        "Read an invoice",
        "JSON, or PDF with `format=pdf` or `Accept: application/pdf`. A tenant key reads its own only.",
    ),
    ("GET", "/v1/invoices/{invoice_id}.pdf"): ("An invoice as PDF", "The same as `?format=pdf`."),
    ("POST", "/v1/invoices/{invoice_id}/credit-notes"): (
        "Issue a credit note",
        "Operators and finance. Never "
        "more than what remains of the invoice (422 credit_exceeds_remaining); numbered gaplessly per currency.",
    ),
    ("POST", "/v1/payments"): (
        "Record a payment",
        "Operators and finance. `reference` is unique per tenant: a "
        "resend answers 200 with the first payment, a new one 201.",
    ),
    ("GET", "/v1/payments"): ("List payments", "A tenant key lists its own."),
    ("GET", "/v1/tenants/{tenant_id}/balance"): ("A tenant's balance", "Per currency: invoiced, credited, paid, owed."),
    ("GET", "/v1/tenants/{tenant_id}/statements/{period}"): (
        "A statement of account",
        "One tenant, one month "
        "(YYYY-MM): opening balance, invoices, credit notes, payments, closing balance; format json, csv, xlsx or "
        "pdf.",
    ),
    ("GET", "/v1/exports/invoice-lines"): (
        "Export invoice lines",
        "Operators and finance: every invoice line of "
        "the month, all tenants, with tax, as CSV (UTF-8 with BOM, opens in Excel in a Chinese locale) or xlsx.",
    ),
    ("GET", "/v1/usage/unrated"): ("Unrated usage", None),
    ("GET", "/v1/usage"): ("Usage per hour, day or month", None),
    ("GET", "/v1/usage/conflicts"): ("GPU time two tenants reported", None),
    ("GET", "/v1/usage/late"): ("Late usage waiting for the next invoice", None),
    ("GET", "/v1/ingest/parked"): ("Parked batches", None),
    ("POST", "/v1/periods/{period}/close"): ("Close a month", None),
    ("GET", "/v1/periods/pending"): ("Months waiting for an operator's close", None),
    ("GET", "/v1/invoices"): ("List invoices", None),
    ("GET", "/v1/invoices/{invoice_id}/credit-notes"): ("An invoice's credit notes", None),
    ("POST", "/v1/events"): (
        "Send usage events",
        "A JSON array of CloudEvents 1.0 (batch mode) or one event "
        "(structured mode); binary mode (ce-* headers) answers 415. Validated whole: one bad event answers 422 "
        "naming each bad index and field, and nothing is kept. At most 10,000 events or 5 MiB (413). 202 only "
        "once the batch is durably queued; (source, id) makes a resend harmless. An agent key sends only its "
        "own source (403).",
    ),
}
"""(summary, description) for operations whose route carries none (a None keeps the route's own)."""


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
    for model in BODIES.values():
        _add(models, model)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            doc = OPERATIONS.get((method.upper(), path))
            summary, description = WHAT.get((method.upper(), path), (None, None))
            if summary:
                operation["summary"] = summary
            if description and not operation.get("description"):
                operation["description"] = description
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if doc is not None:
                _document(models, operation, responses, doc, method.upper(), path)
            if path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
                extra = INGEST_ERRORS if path == "/v1/events" else {}
                for status, text in {**ERRORS, **extra}.items():
                    responses[status] = {"description": text, "content": {"application/json": {"schema": error}}}
            elif path == "/healthz":
                responses["503"] = {"description": "PostgreSQL, Redis or every worker is down (checks say which)."}
    return schema


def _document(models: dict, operation: dict, responses: dict, doc, method: str, path: str) -> None:
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
