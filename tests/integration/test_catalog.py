"""The GPU catalog on real servers: built-in models, operator additions, contracts using them (SPEC §2, §10)."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from billing.services import catalog as catalog_service
from tests.integration.test_ingest import gpu_event


def client(kashi, role, **scope):
    return httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key(role, **scope)}"}
    )


def test_builtin_models_are_listed_with_their_figures(kashi):
    with client(kashi, "finance") as finance:
        answer = finance.get("/v1/gpu-models")
    assert answer.status_code == 200, answer.text
    models = {m["name"]: m for m in answer.json()["items"]}
    assert answer.json()["next_cursor"] is None
    assert (models["RTX-4090"]["fp16_tflops"], models["RTX-4090"]["builtin"]) == ("165.2", True)
    assert models["H100-SXM"]["fp16_tflops"] == "989.5"


def test_operator_adds_a_model_and_prices_p_year_capacity_with_it(operator_client, uid, new_tenant):
    name = f"MLU-{uid}"
    added = operator_client.post(
        "/v1/gpu-models", json={"name": name, "fp16_tflops": "256.5", "source": "vendor datasheet"}
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"name": name, "fp16_tflops": "256.5", "source": "vendor datasheet", "builtin": False}
    listed = {m["name"]: m for m in operator_client.get("/v1/gpu-models").json()["items"]}
    assert listed[name]["fp16_tflops"] == "256.5"
    assert "RTX-4090" in listed

    contract = {
        "id": f"c-{uid}",
        "tenant_id": new_tenant,
        "start": "2026-10-01",
        "closed_months": 12,
        "items": [{"id": "i-1", "pricing": "p_year", "gpu_model": name, "machines": 10, "unit_price": "120000.00"}],
    }
    signed = operator_client.post("/v1/contracts", json=contract)
    assert signed.status_code == 201, signed.text
    item = signed.json()["items"][0]
    # 10 machines × 8 cards × 256.5 TFLOPS / 1000 = 20.52 P, at the figure in force when signed.
    assert (item["capacity_p"], item["card_tflops"]) == ("20.52", "256.5")


def test_a_known_name_is_a_conflict(operator_client, uid):
    assert (
        operator_client.post("/v1/gpu-models", json={"name": "H20", "fp16_tflops": 150, "source": "x"}).status_code
        == 409
    )
    name = f"NPU-{uid}"
    operator_client.post("/v1/gpu-models", json={"name": name, "fp16_tflops": 100, "source": "x"}).raise_for_status()
    again = operator_client.post("/v1/gpu-models", json={"name": name, "fp16_tflops": 200, "source": "y"})
    assert again.status_code == 409
    assert again.json()["error"]["details"][0]["field"] == "name"


def test_bad_fields_are_named_all_at_once(operator_client):
    answer = operator_client.post("/v1/gpu-models", json={"name": "bad name!", "fp16_tflops": -1, "color": "red"})
    assert answer.status_code == 422
    assert {d["field"] for d in answer.json()["error"]["details"]} == {"name", "fp16_tflops", "source", "color"}


def test_tflops_may_be_a_json_number_it_is_not_money(operator_client, uid):
    name = f"F-{uid}"
    answer = operator_client.post("/v1/gpu-models", json={"name": name, "fp16_tflops": 989.5, "source": "datasheet"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["fp16_tflops"] == "989.5"


def test_only_operators_add_and_agents_do_not_read(kashi, uid):
    with client(kashi, "finance") as finance, client(kashi, "agent", source=f"node/{uid}") as agent:
        body = {"name": f"X-{uid}", "fp16_tflops": "1", "source": "x"}
        assert finance.post("/v1/gpu-models", json=body).status_code == 403
        assert agent.get("/v1/gpu-models").status_code == 403


def test_catalog_projection_is_rebuilt_from_its_stream(kashi, operator_client, uid):
    name = f"REB-{uid}"
    operator_client.post(
        "/v1/gpu-models", json={"name": name, "fp16_tflops": "12.25", "source": "x"}
    ).raise_for_status()
    with kashi.engine.connect() as conn, conn.begin() as tx:
        before = conn.execute(text("SELECT name, fp16_tflops, source FROM gpu_models ORDER BY name")).all()
        catalog_service.rebuild_projection(conn)
        after = conn.execute(text("SELECT name, fp16_tflops, source FROM gpu_models ORDER BY name")).all()
        tx.rollback()
    assert after == before
    assert (name, 12.25) in [(r.name, float(r.fp16_tflops)) for r in after]


def test_unrated_usage_is_shown_until_a_contract_matches(kashi, operator_client, uid, new_tenant):
    source = f"node/{uid}"
    with client(kashi, "agent", source=source) as agent:
        agent.post(
            "/v1/events", json=[gpu_event(uid, 1, tenant=new_tenant, source=source, model="L40S")]
        ).raise_for_status()
    kashi.join()
    unrated = operator_client.get("/v1/usage/unrated", params={"tenant_id": new_tenant})
    assert unrated.status_code == 200, unrated.text
    assert [(u["type"], u["gpu_model"], u["period"], u["card_seconds"]) for u in unrated.json()["items"]] == [
        ("gpu", "L40S", "2026-10", "3600")  # exact card-seconds as a string, as in /v1/usage
    ]
    with client(kashi, "tenant", tenant=new_tenant) as tenant:
        assert len(tenant.get("/v1/usage/unrated").json()["items"]) == 1
        assert tenant.get("/v1/usage/unrated", params={"tenant_id": f"t-x-{uid}"}).status_code == 404

    contract = {
        "id": f"c-{uid}",
        "tenant_id": new_tenant,
        "start": "2026-10-01",
        "closed_months": 1,
        "items": [{"id": "i-1", "pricing": "gpu_hour", "gpu_model": "L40S", "unit_price": "9.00"}],
    }
    operator_client.post("/v1/contracts", json=contract).raise_for_status()
    assert operator_client.get("/v1/usage/unrated", params={"tenant_id": new_tenant}).json()["items"] == []


def test_a_price_for_a_name_that_is_no_string_is_a_422_not_a_server_error(operator_client):
    answer = operator_client.post("/v1/gpu-models", json={"name": {}, "list_price_per_card_hour": None})
    assert answer.status_code == 422, answer.text
    assert "name" in [d["field"] for d in answer.json()["error"]["details"]]
