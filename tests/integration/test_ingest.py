"""The ingest spine on real servers: API → durable Valkey → worker → PostgreSQL (SPEC §3, issue 3)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from metering.record import record

T0 = "2026-10-01T00:00:00+08:00"


def gpu_event(
    uid,
    n,
    *,
    tenant,
    gpu="G0",
    start="2026-10-01T00:00:00+08:00",
    end="2026-10-01T01:00:00+08:00",
    source=None,
    model="H100-SXM",
    **extra,
):
    return {
        "specversion": "1.0",
        "id": f"{uid}-{n}",
        "source": source or f"node/{uid}",
        "type": "gpu.usage",
        "subject": tenant,
        "time": end,
        "data": {
            "node": "n1",
            "gpu": f"{uid}-{gpu}",
            "gpu_model": model,
            "start": start,
            "end": end,
            "utilization": "0.5",
            **extra,
        },
    }


def token_event(uid, n, *, tenant, source=None, **counts):
    return {
        "specversion": "1.0",
        "id": f"{uid}-tok-{n}",
        "source": source or f"svc/{uid}",
        "type": "llm.tokens",
        "subject": tenant,
        "time": "2026-10-03T12:00:00Z",
        "data": {"model": "qwen2.5-72b", "input_tokens": 1200, "output_tokens": 300, "cached_tokens": 0, **counts},
    }


def card_seconds(kashi, tenant) -> int:
    with kashi.engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(card_seconds), 0) FROM gpu_hourly WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()


def events_logged(kashi, source) -> int:
    with kashi.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM usage_events WHERE source = :s"), {"s": source}).scalar_one()


@pytest.fixture
def agent(kashi, uid):
    source = f"node/{uid}"
    with httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key('agent', source=source)}"}
    ) as client:
        yield client


def test_batch_accepted_and_rolled_up_per_hour(kashi, agent, uid, new_tenant):
    events = [
        gpu_event(uid, 1, tenant=new_tenant, start="2026-10-01T00:30:00+08:00", end="2026-10-01T02:15:00+08:00"),
        token_event(uid, 2, tenant=new_tenant, source=f"node/{uid}"),
    ]
    answer = agent.post("/v1/events", json=events, headers={"Content-Type": "application/cloudevents-batch+json"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "batch_id": answer.json()["batch_id"]}
    kashi.join()
    with kashi.engine.connect() as conn:
        hours = conn.execute(
            text("SELECT hour, card_seconds FROM gpu_hourly WHERE tenant_id = :t ORDER BY hour"), {"t": new_tenant}
        ).all()
        tokens = conn.execute(
            text("SELECT input_tokens, output_tokens, cached_tokens FROM token_hourly WHERE tenant_id = :t"),
            {"t": new_tenant},
        ).all()
    assert [s for _, s in hours] == [1800, 3600, 900]
    assert [tuple(r) for r in tokens] == [(1200, 300, 0)]


def test_usage_api_answers_card_hours_per_day_in_tenant_timezone(kashi, agent, operator_client, uid, new_tenant):
    agent.post(
        "/v1/events",
        json=[gpu_event(uid, 1, tenant=new_tenant, start="2026-10-01T23:00:00+08:00", end="2026-10-02T01:00:00+08:00")],
    ).raise_for_status()
    kashi.join()
    answer = operator_client.get(
        "/v1/usage",
        params={
            "tenant_id": new_tenant,
            "start": "2026-10-01T00:00:00+08:00",
            "end": "2026-10-03T00:00:00+08:00",
            "group_by": "day",
        },
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["bucket"][:10], i["card_seconds"], i["card_hours"]) for i in items] == [
        ("2026-10-01", "3600", "1.000000"),
        ("2026-10-02", "3600", "1.000000"),
    ]


def test_resent_events_and_redelivered_message_change_nothing(kashi, agent, uid, new_tenant):
    events = [gpu_event(uid, i, tenant=new_tenant, gpu=f"G{i}") for i in range(3)]
    for _ in range(3):
        agent.post("/v1/events", json=events).raise_for_status()
    kashi.join()
    assert card_seconds(kashi, new_tenant) == 3 * 3600
    # The actor runs twice on the same message (a redelivery after a lost ack): nothing changes.
    from metering.events import validate_batch

    rows = [r.to_wire() for r in validate_batch(events)]
    assert record(kashi.engine, f"redelivered-{uid}", rows).status == "recorded"
    assert record(kashi.engine, f"redelivered-{uid}", rows).status == "already_recorded"
    assert card_seconds(kashi, new_tenant) == 3 * 3600
    assert events_logged(kashi, f"node/{uid}") == 3


def test_overlapping_and_out_of_order_intervals_count_each_second_once(kashi, agent, uid, new_tenant):
    late_first = gpu_event(
        uid, 1, tenant=new_tenant, start="2026-10-01T01:00:00+08:00", end="2026-10-01T03:00:00+08:00"
    )
    overlap = gpu_event(uid, 2, tenant=new_tenant, start="2026-10-01T00:00:00+08:00", end="2026-10-01T02:00:00+08:00")
    inside = gpu_event(uid, 3, tenant=new_tenant, start="2026-10-01T01:10:00+08:00", end="2026-10-01T01:20:00+08:00")
    for event in (late_first, overlap, inside):
        agent.post("/v1/events", json=[event]).raise_for_status()
    kashi.join()
    assert card_seconds(kashi, new_tenant) == 3 * 3600


def test_two_tenants_on_one_gpu_second_is_billed_once_and_listed_as_conflict(
    kashi, agent, operator_client, uid, new_tenant
):
    from billing.services import tenants

    other = f"{new_tenant}-b"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": other, "name": "Other"}, actor="test")
    agent.post("/v1/events", json=[gpu_event(uid, 1, tenant=new_tenant)]).raise_for_status()
    kashi.join()
    agent.post(
        "/v1/events",
        json=[gpu_event(uid, 2, tenant=other, start="2026-10-01T00:30:00+08:00", end="2026-10-01T01:30:00+08:00")],
    ).raise_for_status()
    kashi.join()
    assert card_seconds(kashi, new_tenant) == 3600
    assert card_seconds(kashi, other) == 1800
    conflicts = [
        c
        for c in operator_client.get("/v1/usage/conflicts", params={"limit": 1000}).json()["items"]
        if c["tenant_id"] == other
    ]
    assert [(c["card_seconds"], c["holder_tenant_id"]) for c in conflicts] == [(1800, new_tenant)]


def test_invalid_batch_lists_every_bad_index_and_keeps_nothing(kashi, agent, uid, new_tenant):
    good = gpu_event(uid, 1, tenant=new_tenant)
    backwards = gpu_event(uid, 2, tenant=new_tenant, start="2026-10-01T02:00:00+08:00")
    no_tokens = token_event(uid, 3, tenant=new_tenant, source=f"node/{uid}", input_tokens=0, output_tokens=0)
    answer = agent.post("/v1/events", json=[good, backwards, no_tokens])
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert sorted({d["index"] for d in error["details"]}) == [1, 2]
    kashi.join()
    assert events_logged(kashi, f"node/{uid}") == 0


def test_json_float_for_a_string_or_integer_field_is_rejected(kashi, agent, uid, new_tenant):
    event = gpu_event(uid, 1, tenant=new_tenant)
    event["data"]["utilization"] = 0.83
    tokens = token_event(uid, 2, tenant=new_tenant, source=f"node/{uid}", input_tokens=12.0)
    answer = agent.post("/v1/events", json=[event, tokens])
    assert answer.status_code == 422
    fields = {(d["index"], d["field"]) for d in answer.json()["error"]["details"]}
    assert fields == {(0, "data.utilization"), (1, "data.input_tokens")}


def test_too_many_events_or_bytes_is_413(kashi, agent, uid, new_tenant):
    many = [gpu_event(uid, i, tenant=new_tenant) for i in range(10_001)]
    assert agent.post("/v1/events", json=many).status_code == 413
    big = gpu_event(uid, 1, tenant=new_tenant, padding="x" * (5 * 1024 * 1024))
    assert agent.post("/v1/events", json=[big]).status_code == 413


def test_agent_key_bound_to_another_source_gets_403(kashi, uid, new_tenant):
    key = kashi.key("agent", source="node/elsewhere")
    answer = httpx.post(
        f"{kashi.base_url}/v1/events",
        json=[gpu_event(uid, 1, tenant=new_tenant)],
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["details"][0] == {"index": 0, "field": "source", "reason": "not this key's source"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ks_000000000000_wrong", "Basic abc"])
def test_missing_or_wrong_key_is_401(kashi, uid, new_tenant, header):
    headers = {"Authorization": header} if header else {}
    answer = httpx.post(f"{kashi.base_url}/v1/events", json=[gpu_event(uid, 1, tenant=new_tenant)], headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_401(kashi, uid, new_tenant):
    from kashi.keys import revoke_key

    key = kashi.key("operator")
    with kashi.engine.begin() as conn:
        assert revoke_key(conn, key.split("_")[1])
    assert (
        httpx.get(f"{kashi.base_url}/v1/tenants/{new_tenant}", headers={"Authorization": f"Bearer {key}"}).status_code
        == 401
    )


def test_tenant_key_reads_only_its_own_usage(kashi, uid, new_tenant):
    key = kashi.key("tenant", tenant=new_tenant)
    params = {"start": T0, "end": "2026-10-02T00:00:00+08:00"}
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        httpx.get(f"{kashi.base_url}/v1/usage", params={**params, "tenant_id": new_tenant}, headers=headers).status_code
        == 200
    )
    assert (
        httpx.get(
            f"{kashi.base_url}/v1/usage", params={**params, "tenant_id": "someone-else"}, headers=headers
        ).status_code
        == 404
    )


def test_healthz_and_metrics(kashi):
    health = httpx.get(f"{kashi.base_url}/healthz")
    assert health.status_code == 200, health.text
    metrics = httpx.get(f"{kashi.base_url}/metrics").text
    for name in (
        "kashi_events_accepted_total",
        "kashi_events_persisted",
        "kashi_queue_depth",
        "kashi_worker_lag_seconds",
    ):
        assert name in metrics


def test_request_seconds_by_method_route_and_status(kashi, agent, uid, new_tenant):
    agent.post("/v1/events", json=[gpu_event(uid, 1, tenant=new_tenant)]).raise_for_status()
    assert httpx.get(f"{kashi.base_url}/v1/nowhere-{uid}").status_code == 404
    metrics = httpx.get(f"{kashi.base_url}/metrics").text
    name = "kashi_http_request_duration_seconds_count"
    assert f'{name}{{method="POST",route="/v1/events",status="202"}}' in metrics
    assert f'{name}{{method="GET",route="unmatched",status="404"}}' in metrics


def test_usage_query_takes_bare_dates_unencoded_offsets_and_defaults(kashi, agent, operator_client, uid, new_tenant):
    agent.post("/v1/events", json=[gpu_event(uid, 1, tenant=new_tenant)]).raise_for_status()
    kashi.join()
    everything = operator_client.get("/v1/usage", params={"tenant_id": new_tenant, "group_by": "month"}).json()
    assert [(i["bucket"], i["card_seconds"]) for i in everything["items"]] == [("2026-10-01T00:00:00+08:00", "3600")]
    by_date = operator_client.get(
        "/v1/usage", params={"tenant_id": new_tenant, "start": "2026-10-01", "end": "2026-10-02"}
    ).json()
    assert by_date["items"][0]["card_hours"] == "1.000000"
    assert (by_date["start"], by_date["end"]) == ("2026-09-30T16:00:00Z", "2026-10-01T16:00:00Z")
    raw = operator_client.get(f"/v1/usage?tenant_id={new_tenant}&start=2026-10-01T00:00:00+08:00&end=2026-10-02")
    assert raw.status_code == 200 and raw.json()["items"][0]["card_seconds"] == "3600"
    tenant_key = {"Authorization": f"Bearer {kashi.key('tenant', tenant=new_tenant)}"}
    own = httpx.get(f"{kashi.base_url}/v1/usage", headers=tenant_key).json()
    assert own["tenant_id"] == new_tenant and own["items"]
    bad = operator_client.get("/v1/usage", params={"tenant_id": new_tenant, "start": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "start"


def test_bad_query_parameters_are_named_without_their_location(operator_client, new_tenant):
    answer = operator_client.get("/v1/usage", params={"tenant_id": new_tenant, "group_by": "week"})
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["group_by"]


def test_nul_characters_are_refused_up_front_not_parked_in_a_worker(kashi, agent, operator_client, uid, new_tenant):
    answer = agent.post("/v1/events", json=[gpu_event(uid, "a\x00b", tenant=new_tenant)])
    assert answer.status_code == 422 and answer.json()["error"]["details"][0]["field"] == "body"
    nul_query = operator_client.get("/v1/invoices", params={"tenant_id": "t\x00"})
    assert nul_query.status_code in (404, 422)  # never a 500
    assert operator_client.get("/v1/usage/conflicts", params={"limit": -1}).status_code == 422


def test_gpu_status_is_logged_once_per_source_and_id_and_never_billed(kashi, agent, uid, new_tenant):
    status = [
        {
            "specversion": "1.0",
            "id": f"{uid}-st-{n}",
            "source": f"node/{uid}",
            "type": "gpu.status",
            "time": "2026-10-01T00:01:00+08:00",
            **({"subject": new_tenant} if state == "allocated" else {}),
            "data": {
                "node": "n1",
                "gpu": f"{uid}-G{n}",
                "gpu_model": "H100-SXM",
                "state": state,
                "start": "2026-10-01T00:00:00+08:00",
                "end": "2026-10-01T00:01:00+08:00",
                **({"reason": "XID 79 (DCGM_FI_DEV_XID_ERRORS)"} if state == "down" else {}),
            },
        }
        for n, state in enumerate(("idle", "allocated", "down"))
    ]
    for _ in range(2):
        answer = agent.post("/v1/events", json=status)
        assert answer.status_code == 202, answer.text
    kashi.join()
    assert events_logged(kashi, f"node/{uid}") == 3
    assert card_seconds(kashi, new_tenant) == 0
    bad = agent.post("/v1/events", json=[{**status[0], "data": {**status[0]["data"], "state": "lit"}}])
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "data.state"
