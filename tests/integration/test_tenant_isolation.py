"""Tenant isolation, generated from the app's route table: every route × every role × another
tenant's ids answers 401, 403 or 404, or answers without a trace of the other tenant's data.

Tenant A is the caller's tenant; tenant B is the foreign one, with a contract, usage, a closed period,
an invoice, a credit note and a payment. Operators and finance read every tenant's billing, so for
them the test only asks for no server error. A route missing from ``ROUTES`` fails the test: a new
route must say here what a foreign caller sends it.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import routing

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, gpu_event, sign

MACHINES = {"id": "i-m", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 1, "unit_price": "7200.00"}
H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}
ROLES = ("operator", "finance", "tenant", "agent", "no key", "wrong key")
PRIVILEGED = ("operator", "finance")

# (method, path) → the JSON body a caller sends (None: no body). Bodies name the foreign tenant B.
ROUTES: dict[tuple[str, str], object] = {
    ("GET", "/healthz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/openapi.json"): None,
    ("GET", "/docs"): None,
    ("GET", "/docs/oauth2-redirect"): None,
    ("GET", "/redoc"): None,
    ("GET", "/docs-assets/{path}"): None,
    ("POST", "/v1/events"): lambda f: [
        gpu_event(f["uid"], 99, f["tenant_id"], "2026-09-11T00:00:00+08:00", "2026-09-11T01:00:00+08:00")
        | {"source": f["source"]}
    ],
    ("GET", "/v1/ingest/batches/{batch_id}"): None,
    ("GET", "/v1/usage"): None,
    ("GET", "/v1/usage/conflicts"): None,
    ("GET", "/v1/ingest/parked"): None,
    ("POST", "/v1/ingest/parked/{batch_id}/requeue"): None,
    ("GET", "/v1/usage/late"): None,
    ("GET", "/v1/usage/unrated"): None,
    ("POST", "/v1/tenants"): lambda f: {"id": f["tenant_id"], "name": "taken over"},
    ("GET", "/v1/tenants/{tenant_id}"): None,
    ("POST", "/v1/contracts"): lambda f: contract(f"{f['contract_id']}-x", f["tenant_id"], MACHINES),
    ("GET", "/v1/contracts"): None,
    ("GET", "/v1/contracts/{contract_id}"): None,
    ("GET", "/v1/contracts/{contract_id}/events"): None,
    ("POST", "/v1/contracts/{contract_id}/amendments"): lambda f: {
        "item_id": "i-m",
        "effective_at": "2027-03-01T00:00:00+08:00",
        "changes": {"machines": 2},
    },
    ("GET", "/v1/contracts/{contract_id}/termination-quote"): None,
    ("POST", "/v1/contracts/{contract_id}/termination"): lambda f: {"effective_at": "2027-06-01T00:00:00+08:00"},
    ("POST", "/v1/gpu-models"): lambda f: {"name": f"GPU-{f['uid']}", "fp16_tflops": "10", "source": "test"},
    ("GET", "/v1/gpu-models"): None,
    ("POST", "/v1/periods/{period}/close"): None,
    ("GET", "/v1/periods/pending"): None,
    ("GET", "/v1/invoices"): None,
    ("GET", "/v1/invoices/{invoice_id}.pdf"): None,
    ("GET", "/v1/invoices/{invoice_id}"): None,
    ("GET", "/v1/invoices/{invoice_id}/credit-notes"): None,
    ("POST", "/v1/invoices/{invoice_id}/credit-notes"): lambda f: {"amount": "1.00", "reason": "isolation test"},
    ("POST", "/v1/payments"): lambda f: {
        "tenant_id": f["tenant_id"],
        "amount": "1.00",
        "currency": "CNY",
        "received_at": "2026-10-10T10:00:00+08:00",
        "reference": f"iso-{f['uid']}",
    },
    ("GET", "/v1/payments"): None,
    ("GET", "/v1/tenants/{tenant_id}/balance"): None,
    ("GET", "/v1/tenants/{tenant_id}/statements/{period}"): None,
    ("GET", "/v1/exports/invoice-lines"): None,
    ("GET", "/v1/tenants"): None,
    ("PATCH", "/v1/tenants/{tenant_id}"): lambda f: {"name": "Tenant B"},
    ("POST", "/v1/invoices/{invoice_id}/fapiao"): lambda f: {"number": "", "issued_on": "2026-10-01", "kind": "x"},
    ("GET", "/v1/invoices/by-number/{number}"): None,
    ("GET", "/v1/payments/{payment_id}"): None,
    ("GET", "/v1/tenants/{tenant_id}/invoice-preview"): None,
    ("GET", "/v1/reports/receivables"): None,
    ("GET", "/v1/reports/breach-risk"): None,
    ("GET", "/v1/reports/margin"): None,
    ("GET", "/v1/reports/utilization"): None,
    # bodies a privileged caller would have stored change shared books: these are refused (422) for them
    ("PUT", "/v1/issuer"): lambda f: {"not_a_field": True},
    ("GET", "/v1/issuer"): None,
    ("POST", "/v1/market/rents"): lambda f: {"gpu_model": "RTX-4090"},
    ("GET", "/v1/market/rents"): None,
    ("POST", "/v1/suppliers"): lambda f: {"id": ""},
    ("GET", "/v1/suppliers"): None,
    ("GET", "/v1/suppliers/{supplier_id}"): None,
    ("GET", "/v1/suppliers/{supplier_id}/statements/{period}"): None,
    ("GET", "/v1/supplier-bills"): None,
    ("GET", "/v1/supplier-bills/{bill_id}"): None,
    ("GET", "/v1/exports/supplier-bill-lines"): None,
    ("POST", "/v1/webhooks"): lambda f: {"url": "not a url", "events": []},
    ("GET", "/v1/webhooks"): None,
    ("GET", "/v1/webhooks/{webhook_id}"): None,
    ("DELETE", "/v1/webhooks/{webhook_id}"): None,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): None,
    ("GET", "/v1/fleet/gpus"): None,
    ("GET", "/v1/fleet/gpus/{gpu}"): None,
    ("POST", "/v1/fleet/gpus/{gpu}/retire"): lambda f: {"at": "not an instant"},
    # the console: a session cookie of the role's key; its forms need a CSRF token this test never has
    ("GET", "/console/login"): None,
    ("POST", "/console/login"): None,
    ("POST", "/console/logout"): None,
    ("GET", "/console"): None,
    ("GET", "/console/tenants"): None,
    ("GET", "/console/tenants/{tenant_id}"): None,
    ("GET", "/console/contracts/{contract_id}"): None,
    ("GET", "/console/invoices"): None,
    ("GET", "/console/invoices/{invoice_id}.pdf"): None,
    ("GET", "/console/invoices/{invoice_id}"): None,
    ("POST", "/console/invoices/{invoice_id}/credit-notes"): None,
    ("POST", "/console/payments"): None,
    ("GET", "/console/statements"): None,
    ("GET", "/console/tenants/{tenant_id}/statements/{period}.{format}"): None,
    ("GET", "/console/tenants/{tenant_id}/statements/{period}"): None,
    ("GET", "/console/usage"): None,
    ("GET", "/console/usage/card-hours.csv"): None,
    ("GET", "/console/receivables"): None,
    ("GET", "/console/receivables.csv"): None,
    ("GET", "/console/fleet"): None,
    ("GET", "/console/fleet.csv"): None,
    ("GET", "/console/breach-risk"): None,
    ("GET", "/console/breach-risk.csv"): None,
    ("GET", "/console/suppliers"): None,
    ("GET", "/console/margin.csv"): None,
    ("GET", "/console/keys"): None,
    ("POST", "/console/keys"): None,
    ("POST", "/console/keys/{key_id}/revoke"): None,
    ("POST", "/console/ingest/parked/{batch_id}/requeue"): None,
    ("GET", "/console/static/{path}"): None,
}
OK = {
    "/v1/tenants/{tenant_id}/invoice-preview": 409,
    "/console/contracts/{contract_id}": 409,
}
"""What the operator gets instead of 200 on real ids: the fixture's period is closed (no preview), and
the operator's own termination above leaves the console's quote calculator a conflict to show."""
REAL = {"tenant_id", "contract_id", "invoice_id", "batch_id", "period", "credit_note_id", "payment_id", "number"}
"""Path parameters the fixture gives real foreign values (others, such as a supplier id, name nothing:
those resources are not a tenant's, and only operators and finance reach them at all)."""
QUERY = {
    "tenant_id": None,
    "period": "2026-09",
    "effective_at": "2027-06-01T00:00:00+08:00",
    "format": "json",
    "type": "gpu",
    "group_by": "month",
}
"""Query parameters sent when a route takes them (tenant_id is the foreign tenant's)."""


def app_routes(app) -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) of every route the app serves."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        path = getattr(context, "path_format", None) or route.path
        methods = sorted(getattr(context, "methods", None) or getattr(route, "methods", None) or {"GET"})
        query = [p.name for p in route.dependant.query_params] if isinstance(route, routing.APIRoute) else []
        for method in methods:
            if method != "HEAD":
                found.append((method, path, query))
    return found


@pytest.fixture(scope="module")
def foreign(kashi):
    """Tenant A (the caller's) and tenant B (foreign) with a closed period, invoice, credit note, payment."""
    import uuid

    uid = uuid.uuid4().hex[:10]
    mine, theirs = f"t-{uid}-a", f"t-{uid}-b"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": mine, "name": "Tenant A"}, actor="test")
        tenants.create(conn, {"id": theirs, "name": "Tenant B"}, actor="test")
    sign(kashi, contract(f"c-{uid}-a", mine, MACHINES))
    sign(kashi, contract(f"c-{uid}-b", theirs, MACHINES, H100))
    source = f"node/{uid}-b"
    agent_b = kashi.key("agent", source=source)
    sent = httpx.post(
        f"{kashi.base_url}/v1/events",
        timeout=60,
        headers={"Authorization": f"Bearer {agent_b}"},
        json=[gpu_event(f"{uid}-b", 1, theirs, "2026-09-10T00:00:00+08:00", "2026-09-10T02:00:00+08:00")],
    )
    assert sent.status_code == 202, sent.text
    kashi.join()
    (invoice_id,) = close_tenant(kashi.engine, theirs, Period(2026, 9))
    operator = {"Authorization": f"Bearer {kashi.key('operator')}"}
    note = httpx.post(
        f"{kashi.base_url}/v1/invoices/{invoice_id}/credit-notes",
        headers=operator,
        timeout=60,
        json={"amount": "10.00", "reason": "goodwill"},
    )
    assert note.status_code == 201, note.text
    paid = httpx.post(
        f"{kashi.base_url}/v1/payments",
        headers=operator,
        timeout=60,
        json={
            "tenant_id": theirs,
            "amount": "100.00",
            "currency": "CNY",
            "received_at": "2026-10-05T10:00:00+08:00",
            "reference": f"pay-{uid}",
        },
    )
    assert paid.status_code in (200, 201), paid.text
    values = {
        "uid": uid,
        "tenant_id": theirs,
        "contract_id": f"c-{uid}-b",
        "invoice_id": invoice_id,
        "batch_id": sent.json()["batch_id"],
        "period": "2026-09",
        "source": source,
        "path": "swagger-ui.css",
        "credit_note_id": note.json()["id"],
        "payment_id": paid.json()["id"],
        "number": httpx.get(f"{kashi.base_url}/v1/invoices/{invoice_id}", headers=operator).json()["number"],
        "format": "csv",
        "supplier_id": f"sup-{uid}",
        "bill_id": f"bill-{uid}",
        "webhook_id": f"wh-{uid}",
        "gpu": f"gpu-{uid}",
        "key_id": f"key-{uid}",
    }
    keys = {
        "operator": kashi.key("operator"),
        "finance": kashi.key("finance"),
        "tenant": kashi.key("tenant", tenant=mine),
        "agent": kashi.key("agent", source=f"node/{uid}-a"),
        "no key": None,
        "wrong key": "not-a-kashi-key",
    }
    return values, keys


def test_every_route_is_covered_by_the_isolation_matrix(kashi):
    from kashi.api.app import create_app

    app = create_app(kashi.settings, database_url=kashi.servers.database_url, redis_url=kashi.servers.redis_url)
    served = {(method, path) for method, path, _ in app_routes(app)}
    assert served - set(ROUTES) == set(), "new routes: say in ROUTES what a foreign caller sends them"
    assert set(ROUTES) - served == set(), "ROUTES names routes the app no longer serves"


def _traces(values: dict) -> list[str]:
    return [values[k] for k in ("tenant_id", "contract_id", "invoice_id", "batch_id", "credit_note_id", "payment_id")]


def _requests(method: str, path: str, query: list[str], values: dict):
    if path == "/console/static/{path}":
        values = values | {"path": "console.css"}
    url = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
    params = {name: (values["tenant_id"] if name == "tenant_id" else QUERY[name]) for name in query if name in QUERY}
    if path.startswith("/v1/exports/"):
        params["format"] = "csv"
    yield url, params
    if "tenant_id" in params:  # a listing without the tenant named: a tenant key lists its own
        yield url, {k: v for k, v in params.items() if k != "tenant_id"}


def _real(path: str) -> bool:
    names = re.findall(r"{(\w+)}", path)
    return bool(names) and set(names) <= REAL


def _console_session(client: httpx.Client, key: str) -> None:
    """Sign in to the console with `key` as a browser would (the cookie stays in `client`)."""
    form = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    client.post("/console/login", data={"key": key, "csrf_token": token, "next": "/console"})


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_tenants_data_on_any_route(kashi, foreign, role):
    from kashi.api.app import create_app

    values, keys = foreign
    app = create_app(kashi.settings, database_url=kashi.servers.database_url, redis_url=kashi.servers.redis_url)
    headers = {} if keys[role] is None else {"Authorization": f"Bearer {keys[role]}"}
    problems = []
    with httpx.Client(base_url=kashi.base_url, headers=headers, timeout=60) as client:
        if keys[role] is not None:
            _console_session(client, keys[role])
        for method, path, query in app_routes(app):
            body = ROUTES[(method, path)]
            for url, params in _requests(method, path, query, values):
                answer = client.request(method, url, params=params, json=body(values) if callable(body) else None)
                seen = f"{role}: {method} {url} {params} → {answer.status_code}"
                if answer.status_code >= 500:
                    problems.append(f"{seen} (server error) {answer.text[:200]}")
                elif role == "operator" and method == "GET" and _real(path) and answer.status_code != OK.get(path, 200):
                    problems.append(f"{seen}: the operator should read the foreign ids (are they real?)")
                elif role in PRIVILEGED:
                    continue
                elif role in ("no key", "wrong key") and url.startswith("/v1/"):
                    if answer.status_code != 401:
                        problems.append(f"{seen}: expected 401")
                elif answer.status_code not in (401, 403, 404):
                    leaked = [t for t in _traces(values) if t in answer.text]
                    if leaked or answer.status_code >= 400 and answer.status_code != 405:
                        problems.append(f"{seen} shows {leaked or answer.text[:200]}")

    assert problems == []
