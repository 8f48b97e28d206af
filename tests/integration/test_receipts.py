"""Ingest receipts and the close barrier: a 202 names its batch, the batch can be followed until it is
recorded, and a close includes every batch acknowledged before it began (or issues nothing)."""

from __future__ import annotations

import httpx

from tests.integration.billing_scenario import contract, gpu_event, sign

H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}


def _post(kashi, key: str, events: list[dict]) -> httpx.Response:
    return httpx.post(
        f"{kashi.base_url}/v1/events", json=events, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def _receipt(kashi, key: str, batch_id: str) -> httpx.Response:
    return httpx.get(
        f"{kashi.base_url}/v1/ingest/batches/{batch_id}", timeout=30, headers={"Authorization": f"Bearer {key}"}
    )


def test_receipt_says_recorded_with_new_and_duplicates_to_its_sender_and_operators_only(kashi, uid, new_tenant):
    agent = kashi.key("agent", source=f"node/{uid}")
    events = [
        gpu_event(uid, n, new_tenant, f"2026-09-10T0{n}:00:00+08:00", f"2026-09-10T0{n + 1}:00:00+08:00")
        for n in range(3)
    ]
    first = _post(kashi, agent, events)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 3
    batch_id = first.json()["batch_id"]
    early = _receipt(kashi, agent, batch_id)
    assert early.status_code == 200 and early.json()["status"] in ("queued", "recorded")
    assert early.json()["events"] == 3 and early.json()["accepted_at"].endswith("Z")
    kashi.join()
    recorded = _receipt(kashi, agent, batch_id).json()
    assert recorded["status"] == "recorded"
    assert (recorded["events"], recorded["new"], recorded["duplicates"]) == (3, 3, 0)
    assert recorded["recorded_at"] >= recorded["accepted_at"]
    again = _post(kashi, agent, events[:2])  # a resend: nothing new
    kashi.join()
    resent = _receipt(kashi, agent, again.json()["batch_id"]).json()
    assert (resent["status"], resent["events"], resent["new"], resent["duplicates"]) == ("recorded", 2, 0, 2)
    assert _receipt(kashi, kashi.key("operator"), batch_id).json()["status"] == "recorded"
    for other in (
        kashi.key("agent", source=f"node/{uid}"),
        kashi.key("tenant", tenant=new_tenant),
        kashi.key("finance"),
    ):
        answer = _receipt(kashi, other, batch_id)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert _receipt(kashi, agent, "no-such-batch").status_code == 404
    assert _receipt(kashi, "wrong-key", batch_id).status_code == 401


def test_close_right_after_a_202_includes_the_batch(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    agent = kashi.key("agent", source=f"node/{uid}")
    answer = _post(
        kashi, agent, [gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T04:00:00+08:00")]
    )
    assert answer.status_code == 202
    closed = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}")  # no join: the close waits
    assert closed.status_code == 200, closed.text
    (invoice_id,) = closed.json()["invoices"]
    lines = operator_client.get(f"/v1/invoices/{invoice_id}").json()["lines"]
    assert [(line["kind"], line["quantity"], line["amount"]) for line in lines] == [("gpu_hour", "4", "50.00")]


def test_close_with_the_workers_stopped_issues_nothing_and_names_the_batch(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    agent = kashi.key("agent", source=f"node/{uid}")
    kashi.stop_workers()
    timeout = kashi.settings.close_drain_timeout_s
    kashi.settings.close_drain_timeout_s = 0.5
    try:
        answer = _post(
            kashi, agent, [gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T02:00:00+08:00")]
        )
        batch_id = answer.json()["batch_id"]
        assert _receipt(kashi, agent, batch_id).json()["status"] == "queued"
        refused = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}")
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "batches_not_recorded" and batch_id in error["message"]
        assert [(d["batch_id"], d["status"]) for d in error["details"]] == [(batch_id, "queued")]
        assert operator_client.get(f"/v1/invoices?tenant_id={new_tenant}").json()["items"] == []
    finally:
        kashi.settings.close_drain_timeout_s = timeout
        kashi.start_worker()
    closed = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}")
    assert closed.status_code == 200, closed.text
    (invoice_id,) = closed.json()["invoices"]
    lines = operator_client.get(f"/v1/invoices/{invoice_id}").json()["lines"]
    assert [(line["kind"], line["quantity"]) for line in lines] == [("gpu_hour", "2")]
    assert _receipt(kashi, agent, batch_id).json()["status"] == "recorded"


def test_a_chunked_close_waits_for_its_own_tenants_batches_only(kashi, uid, new_tenant):
    """The scheduler's close of a chunk of tenants (``close_due``) holds up for a batch of one of them,
    and not for another tenant's."""
    import pytest

    from billing.core.periods import Period
    from billing.services import tenants
    from billing.services.close import close_due
    from kashi.errors import BatchesNotRecorded
    from metering.receipts import Receipts

    other, bystander = f"{new_tenant}-b", f"{new_tenant}-c"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": other, "name": other}, actor="test")
        tenants.create(conn, {"id": bystander, "name": bystander}, actor="test")
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    agent = kashi.key("agent", source=f"node/{uid}")
    receipts = Receipts(kashi._workers[0].broker.client, kashi.settings.queue_namespace)
    kashi.stop_workers()
    try:
        answer = _post(
            kashi, agent, [gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T02:00:00+08:00")]
        )
        batch_id = answer.json()["batch_id"]
        with pytest.raises(BatchesNotRecorded) as refused:
            close_due(kashi.engine, Period(2026, 9), [other, new_tenant], receipts=receipts, drain_timeout_s=0.3)
        assert [d["batch_id"] for d in refused.value.details] == [batch_id]
        assert close_due(kashi.engine, Period(2026, 9), [bystander], receipts=receipts, drain_timeout_s=0.3) == []
    finally:
        kashi.start_worker()
    (invoice_id,) = close_due(kashi.engine, Period(2026, 9), [other, new_tenant], receipts=receipts)
    assert close_due(kashi.engine, Period(2026, 9), [new_tenant, other], receipts=receipts) == [invoice_id]


def test_binary_mode_cloudevent_is_refused_with_415_naming_structured_or_batch_mode(kashi, uid):
    agent = kashi.key("agent", source=f"node/{uid}")
    answer = httpx.post(
        f"{kashi.base_url}/v1/events",
        content=b'{"node": "n1"}',
        timeout=30,
        headers={
            "Authorization": f"Bearer {agent}",
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "x",
            "ce-source": f"node/{uid}",
            "ce-type": "gpu.usage",
        },
    )
    assert answer.status_code == 415
    assert "structured mode" in answer.json()["error"]["message"] and "batch" in answer.json()["error"]["message"]


def test_a_parked_batch_fails_the_close_at_once_and_other_tenants_close(kashi, uid, new_tenant):
    import time

    import pytest
    from sqlalchemy import text

    from billing.core.periods import Period
    from billing.services.close import close_tenant
    from kashi.errors import BatchesNotRecorded
    from metering.receipts import Receipts, receipt_for

    broker = kashi._workers[0].broker
    receipts = Receipts(broker.client, kashi.settings.queue_namespace)
    batch_id = f"parked-{uid}"
    messages = f"{kashi.settings.queue_namespace}:test-{uid}.msgs"  # the receipt is written if its message is queued
    broker.client.hset(messages, batch_id, b"{}")
    pipe = broker.client.pipeline(transaction=False)
    receipts.write(pipe, receipt_for(batch_id, 1, None, [new_tenant]), messages, batch_id)
    pipe.execute()
    broker.client.delete(messages)
    with kashi.engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO ingest_batches (batch_id, status, attempts, events)
                              VALUES (:b, 'parked', 6, 1)"""),
            {"b": batch_id},
        )
    try:
        started = time.monotonic()
        with pytest.raises(BatchesNotRecorded) as caught:
            close_tenant(kashi.engine, new_tenant, Period(2026, 9), receipts=receipts, drain_timeout_s=30)
        assert time.monotonic() - started < 10  # parked: no point waiting out the timeout
        assert [(d["batch_id"], d["status"]) for d in caught.value.details] == [(batch_id, "parked")]
        with kashi.engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM period_closes WHERE tenant_id = :t"), {"t": new_tenant}
                ).scalar_one()
                == 0
            )
        other = f"{new_tenant}-other"
        from billing.services import tenants

        with kashi.engine.begin() as conn:
            tenants.create(conn, {"id": other, "name": "Other"}, actor="test")
        assert close_tenant(kashi.engine, other, Period(2026, 9), receipts=receipts, drain_timeout_s=1) == []
    finally:
        receipts.forget([batch_id])


def _receipts_in_own_namespace(kashi, uid):
    """Receipts under a namespace of the test's own on the session's Valkey, and a way to write one
    (its message is put in a queue hash first: a receipt is written only for a queued message)."""
    import redis

    from metering.receipts import Receipts, receipt_for

    client = redis.Redis.from_url(kashi.servers.redis_url)
    namespace = f"rc-{uid}"
    receipts = Receipts(client, namespace)
    messages = f"{namespace}:test.msgs"

    def write(batch_id: str, tenants: list[str]) -> None:
        client.hset(messages, batch_id, b"{}")
        pipe = client.pipeline(transaction=False)
        receipts.write(pipe, receipt_for(batch_id, 1, None, tenants), messages, batch_id)
        pipe.execute()

    return client, namespace, receipts, write


def _hget_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_hget", {}).get("calls", 0))


def test_a_tenants_pending_batches_are_read_from_its_own_set_however_many_others_are_pending(kashi, uid):
    """A close of one tenant reads that tenant's set of pending batches: a backlog of 500 other
    batches costs it no read of their receipts, and forgetting a batch takes it out of every one of
    its tenants' sets (an emptied set is gone)."""
    client, namespace, receipts, write = _receipts_in_own_namespace(kashi, uid)
    write(f"a-{uid}", ["t1", "t2"])
    for n in range(500):
        write(f"other-{n}-{uid}", [f"busy-{n % 7}"])
    write(f"b-{uid}", ["t2"])
    assert receipts.pending("t1") == [f"a-{uid}"]  # the first call builds the tenants' sets once
    hgets = _hget_calls(client)
    assert receipts.pending("t2") == [f"a-{uid}", f"b-{uid}"]
    assert receipts.pending("nobody") == []
    assert _hget_calls(client) == hgets
    assert len(receipts.pending()) == 502
    receipts.forget([f"a-{uid}"])
    assert receipts.pending("t1") == [] and receipts.pending("t2") == [f"b-{uid}"]
    assert not client.exists(f"{namespace}:receipts:tenant:t1", f"{namespace}:receipt:a-{uid}")
    receipts.forget([f"b-{uid}", *[f"other-{n}-{uid}" for n in range(500)]])
    assert receipts.pending() == [] and receipts.pending("t2") == []
    assert not client.keys(f"{namespace}:receipts:tenant:*")


def test_receipts_written_before_the_tenants_sets_existed_are_waited_for(kashi, uid):
    """Receipts an earlier Kashi left pending (a hash and the pending set only) are put in their
    tenants' sets by the first per-tenant read; one whose hash is gone, its tenants unknown, is
    waited for by every tenant until it is forgotten."""
    client, namespace, receipts, _ = _receipts_in_own_namespace(kashi, uid)
    client.hset(f"{namespace}:receipt:old-{uid}", mapping={"events": 1, "tenants": '["t1"]'})
    client.zadd(f"{namespace}:receipts:pending", {f"old-{uid}": 1000, f"lost-{uid}": 2000})
    assert receipts.pending("t1") == [f"old-{uid}", f"lost-{uid}"]
    assert receipts.pending("t2") == [f"lost-{uid}"]
    receipts.forget([f"lost-{uid}"])
    assert receipts.pending("t2") == [] and receipts.pending("t1") == [f"old-{uid}"]
    receipts.forget([f"old-{uid}"])
    assert receipts.pending() == [] and receipts.pending("t1") == []
