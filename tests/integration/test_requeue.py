"""Requeue of a parked batch: an operator puts it back on the queue, the worker records it exactly once,
its receipt says recorded, and the close barrier that refused the month lets it close."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from kashi import streams
from tests.integration.billing_scenario import contract, gpu_event, park, post_events, send, sign

H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}


def _usage_events(kashi, uid: str) -> int:
    with kashi.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM usage_events WHERE source = :s"), {"s": f"node/{uid}"}).scalar()


def test_requeued_parked_batch_is_recorded_once_and_the_close_passes(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    first = gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T02:00:00+08:00")
    send(kashi, uid, [first])  # already recorded: the parked batch repeats it
    second = gpu_event(uid, 2, new_tenant, "2026-09-11T00:00:00+08:00", "2026-09-11T03:00:00+08:00", gpu="G1")
    batch_id = park(kashi, uid, new_tenant, [first, second])
    parked = operator_client.get("/v1/ingest/parked").json()["items"]
    assert [p["batch_id"] for p in parked if p["batch_id"] == batch_id] == [batch_id]
    assert operator_client.get(f"/v1/ingest/batches/{batch_id}").json()["status"] == "parked"
    refused = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "batches_not_recorded"
    assert _usage_events(kashi, uid) == 1

    requeued = operator_client.post(f"/v1/ingest/parked/{batch_id}/requeue")
    assert requeued.status_code == 202, requeued.text
    body = requeued.json()
    assert (body["batch_id"], body["status"], body["events"]) == (batch_id, "queued", 2)
    assert body["attempts"] == kashi.settings.max_batch_attempts + 1 and "parked" in body["error"]
    assert body["requeued_by"].startswith("key:") and body["requeued_at"].endswith("Z")
    kashi.join()

    receipt = operator_client.get(f"/v1/ingest/batches/{batch_id}").json()
    assert (receipt["status"], receipt["events"], receipt["new"], receipt["duplicates"]) == ("recorded", 2, 1, 1)
    assert _usage_events(kashi, uid) == 2
    assert batch_id not in [p["batch_id"] for p in operator_client.get("/v1/ingest/parked").json()["items"]]
    with kashi.engine.connect() as conn:
        (audit,) = streams.load(conn, f"ingest-batch:{batch_id}")
    assert (audit.type, audit.actor, audit.data["batch_id"], audit.data["events"]) == (
        "BatchRequeued",
        body["requeued_by"],
        batch_id,
        2,
    )

    closed = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}")
    assert closed.status_code == 200, closed.text
    (invoice_id,) = closed.json()["invoices"]
    lines = operator_client.get(f"/v1/invoices/{invoice_id}").json()["lines"]
    assert [(line["kind"], line["quantity"], line["amount"]) for line in lines] == [("gpu_hour", "5", "62.50")]


def test_requeue_of_a_batch_that_is_not_parked_is_409_and_of_an_unknown_one_404(
    kashi, uid, new_tenant, operator_client
):
    agent = kashi.key("agent", source=f"node/{uid}")
    sent = post_events(
        kashi, agent, [gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T01:00:00+08:00")]
    )
    kashi.join()
    recorded = operator_client.post(f"/v1/ingest/parked/{sent.json()['batch_id']}/requeue")
    assert recorded.status_code == 409 and "recorded, not parked" in recorded.json()["error"]["message"]
    assert recorded.json()["error"]["details"] == [{"field": "batch_id", "reason": "the batch is recorded"}]
    unknown = operator_client.post(f"/v1/ingest/parked/no-such-{uid}/requeue")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_a_second_requeue_of_the_same_batch_is_409_and_the_events_land_once(kashi, uid, new_tenant, operator_client):
    event = gpu_event(uid, 1, new_tenant, "2026-09-12T00:00:00+08:00", "2026-09-12T01:00:00+08:00")
    batch_id = park(kashi, uid, new_tenant, [event])
    kashi.stop_workers()  # the first requeue's message waits in the queue
    try:
        assert operator_client.post(f"/v1/ingest/parked/{batch_id}/requeue").status_code == 202
        assert operator_client.get(f"/v1/ingest/batches/{batch_id}").json()["status"] == "queued"
        again = operator_client.post(f"/v1/ingest/parked/{batch_id}/requeue")
        assert again.status_code == 409 and "queued, not parked" in again.json()["error"]["message"]
    finally:
        kashi.start_worker()
    kashi.join()
    assert operator_client.get(f"/v1/ingest/batches/{batch_id}").json()["status"] == "recorded"
    assert _usage_events(kashi, uid) == 1


def test_only_operators_requeue(kashi, uid, new_tenant):
    for key in (kashi.key("finance"), kashi.key("tenant", tenant=new_tenant), kashi.key("agent", source=f"node/{uid}")):
        answer = httpx.post(
            f"{kashi.base_url}/v1/ingest/parked/any/requeue", timeout=30, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 403, answer.text


def test_kashi_ingest_requeue_puts_a_parked_batch_back_and_names_the_os_user(kashi, uid, new_tenant, operator_client):
    import getpass

    from typer.testing import CliRunner

    from kashi.cli import app

    event = gpu_event(uid, 1, new_tenant, "2026-09-13T00:00:00+08:00", "2026-09-13T01:00:00+08:00")
    batch_id = park(kashi, uid, new_tenant, [event])
    runner = CliRunner()
    data_dir = str(kashi.settings.data_dir)
    listed = runner.invoke(app, ["ingest", "parked", "--data-dir", data_dir])
    assert listed.exit_code == 0 and batch_id in listed.stdout
    done = runner.invoke(app, ["ingest", "requeue", batch_id, "--data-dir", data_dir])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == batch_id and f"batch {batch_id} requeued" in done.stderr
    kashi.join()
    assert operator_client.get(f"/v1/ingest/batches/{batch_id}").json()["status"] == "recorded"
    with kashi.engine.connect() as conn:
        (audit,) = streams.load(conn, f"ingest-batch:{batch_id}")
    assert audit.actor == f"cli:{getpass.getuser()}"
    again = runner.invoke(app, ["ingest", "requeue", batch_id, "--data-dir", data_dir])
    assert again.exit_code == 1 and "recorded, not parked" in again.stderr
