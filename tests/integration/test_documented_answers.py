"""The reference tells the truth: every JSON answer an operator gets on every GET route (with a
foreign tenant's real ids, as in the isolation matrix) has exactly the shape ``/openapi.json``
documents for it: no key the model lacks, every required key present, the right JSON types."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.test_tenant_isolation import _requests, app_routes, foreign  # noqa: F401

TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}


def _types(kind: str) -> tuple[type, ...]:
    found = TYPES[kind]
    return found if isinstance(found, tuple) else (found,)


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def mismatches(value, schema: dict, components: dict, where: str = "") -> list[str]:
    """Where `value` departs from `schema` (an OpenAPI 3.1 schema as pydantic writes it)."""
    schema = _resolve(schema, components)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            found = [mismatches(value, option, components, where) for option in schema[union]]
            return [] if any(not f for f in found) else min(found, key=len)
    if "const" in schema:
        return [] if value == schema["const"] else [f"{where}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind == "null":
        return [] if value is None else [f"{where}: {value!r} should be null"]
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if value is None and "null" in kinds:
            return []
        wanted = tuple(t for k in kinds if k != "null" for t in _types(k))
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            return [f"{where}: {type(value).__name__} {str(value)[:40]!r} is not {kind}"]
    problems = []
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value[:20]):
            problems += mismatches(item, schema["items"], components, f"{where}[{n}]")
    if isinstance(value, dict) and "properties" in schema:
        properties = schema["properties"]
        extra = schema.get("additionalProperties", False)
        for key, item in value.items():
            if key in properties:
                problems += mismatches(item, properties[key], components, f"{where}.{key}")
            elif extra is False:
                problems.append(f"{where}.{key}: not documented")
        absent = [key for key in schema.get("required", []) if key not in value]
        problems += [f"{where}.{key}: documented as required, absent" for key in absent]
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            problems += mismatches(item, schema["additionalProperties"], components, f"{where}.{key}")
    return problems


def _check(schema: dict, method: str, path: str, answer: httpx.Response) -> list[str]:
    """Problems of one answer against what the reference documents for its status and media type."""
    documented = schema["paths"][path][method.lower()]["responses"].get(str(answer.status_code))
    if documented is None:
        return [f"{method} {path}: status {answer.status_code} not documented ({answer.text[:200]})"]
    media = answer.headers.get("content-type", "").split(";")[0]
    if media != "application/json":
        return [] if media in documented.get("content", {}) else [f"{method} {path}: {media} not documented"]
    model = documented["content"]["application/json"]["schema"]
    where = f"{method} {path} {answer.status_code}"
    return [f"{where}: {p}" for p in mismatches(answer.json(), model, schema["components"]["schemas"])]


@pytest.fixture(scope="module")
def populated(kashi, foreign):  # noqa: F811
    """The isolation fixture's books, with one of everything a listing can show, made through the API;
    returns (values, operator headers, the problems of each write's answer)."""
    from kashi.api.app import create_app
    from metering.ingest import parse
    from metering.record import record
    from tests.integration.billing_scenario import gpu_event
    from tests.integration.fleet_kit import status

    values, keys = foreign
    uid, theirs, mine = values["uid"], values["tenant_id"], values["tenant_id"][:-1] + "a"
    app = create_app(kashi.settings, database_url=kashi.servers.database_url, redis_url=kashi.servers.redis_url)
    schema = app.openapi()
    headers = {"Authorization": f"Bearer {keys['operator']}"}
    problems: list[str] = []
    with httpx.Client(base_url=kashi.base_url, headers=headers, timeout=60) as client:

        def write(method: str, path: str, url: str, **kwargs) -> httpx.Response:
            answer = client.request(method, url, **kwargs)
            assert answer.status_code < 300, f"{method} {url}: {answer.text}"
            problems.extend(_check(schema, method, path, answer))
            return answer

        hook = write(
            "POST", "/v1/webhooks", "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["payment.recorded"]}
        )
        write("POST", "/v1/suppliers", "/v1/suppliers", json={"id": f"sup-{uid}", "name": "供应商"})
        write(
            "POST",
            "/v1/market/rents",
            "/v1/market/rents",
            json={
                "gpu_model": "RTX-4090",
                "unit": "machine_month",
                "price": "4800.00",
                "currency": "CNY",
                "observed_at": "2026-09-05T00:00:00+08:00",
                "source": "quote",
            },
        )
        issuer = {"legal_name": "卡时", "tax_id": "91110108MA01ABCD3X", "address": "北京", "phone": "1"}
        issuer |= {"email": "b@k.example", "bank_name": "招商银行", "bank_account": "1109"}
        write("PUT", "/v1/issuer", "/v1/issuer", json=issuer)
        invoice = values["invoice_id"]
        fapiao = {"number": f"F-{uid}", "issued_on": "2026-10-02", "kind": "special"}
        write("POST", "/v1/invoices/{invoice_id}/fapiao", f"/v1/invoices/{invoice}/fapiao", json=fapiao)
        write(
            "POST",
            "/v1/payments",
            "/v1/payments",
            json={"tenant_id": theirs, "amount": "5", "currency": "CNY", "received_at": "2026-10-06T10:00:00+08:00"}
            | {"reference": f"doc-{uid}"},
        )
        write(
            "POST", "/v1/gpu-models", "/v1/gpu-models", json={"name": f"M-{uid}", "fp16_tflops": "100", "source": "t"}
        )
        write("POST", "/v1/gpu-models", "/v1/gpu-models", json={"name": f"M-{uid}", "list_price_per_card_hour": "9"})
        write("POST", "/v1/tenants", "/v1/tenants", json={"id": f"t-{uid}-c", "name": "C"})
        write("PATCH", "/v1/tenants/{tenant_id}", f"/v1/tenants/t-{uid}-c", json={"legal_name": "丙"})
        contract = f"c-{uid}-b"
        write(
            "POST",
            "/v1/contracts/{contract_id}/amendments",
            f"/v1/contracts/{contract}/amendments",
            json={"item_id": "i-m", "effective_at": "2027-03-01T00:00:00+08:00", "changes": {"machines": 2}},
        )
        late = gpu_event(f"{uid}-b", 7, theirs, "2026-09-20T00:00:00+08:00", "2026-09-20T01:00:00+08:00")
        clash = gpu_event(f"{uid}-b", 8, mine, "2026-09-10T00:00:00+08:00", "2026-09-10T01:00:00+08:00")
        unrated = gpu_event(f"{uid}-b", 9, mine, "2026-09-11T00:00:00+08:00", "2026-09-11T01:00:00+08:00", gpu="G5")
        lit = status(uid, "G9", "2026-09-10T00:00:00+08:00", "2026-09-10T01:00:00+08:00", "idle")
        write("POST", "/v1/events", "/v1/events", json=[late, clash | {"id": f"clash-{uid}"}, unrated, lit])
        kashi.join()
        records, _ = parse(b"[" + httpx.Request("POST", "/", json=late | {"id": f"parked-{uid}"}).content + b"]")
        assert record(kashi.engine, f"parked-{uid}", [r.to_wire() for r in records], max_attempts=0).status == "parked"
        write(
            "POST",
            "/v1/ingest/parked/{batch_id}/requeue",
            f"/v1/ingest/parked/parked-{uid}/requeue",
        )
        assert record(kashi.engine, f"parked-{uid}b", [r.to_wire() for r in records], max_attempts=0).status == "parked"
        kashi.join()
    values = values | {"webhook_id": hook.json()["id"], "supplier_id": f"sup-{uid}", "gpu": f"{uid}-G9"}
    return values, headers, problems


def test_every_write_answers_the_model_it_documents(populated):
    _, _, problems = populated
    assert not problems, "\n".join(problems)


def test_every_json_answer_of_the_operator_matches_its_documented_model(kashi, populated):
    from kashi.api.app import create_app

    values, headers, _ = populated
    app = create_app(kashi.settings, database_url=kashi.servers.database_url, redis_url=kashi.servers.redis_url)
    schema = app.openapi()
    components = schema["components"]["schemas"]
    problems, checked, empty = [], 0, []
    with httpx.Client(base_url=kashi.base_url, headers=headers, timeout=60) as client:
        for method, path, query in app_routes(app):
            if method != "GET" or not path.startswith("/v1/") or path not in schema["paths"]:
                continue
            documented = schema["paths"][path]["get"]["responses"]
            for url, params in _requests(method, path, query, values):
                params = {k: v for k, v in params.items() if k != "format"}
                if path == "/v1/reports/utilization":
                    params["group_by"] = "model"
                answer = client.get(url, params=params)
                if answer.status_code != 200 or not answer.headers["content-type"].startswith("application/json"):
                    continue
                model = documented["200"]["content"]["application/json"]["schema"]
                checked += 1
                if answer.json().get("items") == []:
                    empty.append(f"{url} {params}")
                problems += [f"GET {path}: {p}" for p in mismatches(answer.json(), model, components)]
    assert checked > 40
    unbuilt = ("tenant_id", "supplier-bills", "reports/margin")  # a tenant's own listing; no payable contract
    assert [e for e in empty if not any(u in e for u in unbuilt)] == [], empty
    assert not problems, "\n".join(problems)
