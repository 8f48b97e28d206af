"""Backdated periods wait for the operator; late usage is listed until a later close bills it;
`kashi close` says when a period was already closed and when late usage waits for the next invoice."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from typer.testing import CliRunner

from billing.services import tenants
from billing.services.close import utc_now
from kashi.cli import app
from tests.integration.billing_scenario import contract, gpu_event, send, sign, token_event
from workers.scheduler import run_once

H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}
GRACE = timedelta(hours=24)


def test_scheduler_leaves_a_backdated_period_to_the_operator_and_lists_it_pending(kashi, uid, operator_client):
    backdated, on_time = f"t-{uid}-back", f"t-{uid}-ontime"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": backdated, "name": "Backdated"}, actor="test")
        tenants.create(conn, {"id": on_time, "name": "On time"}, actor="test")
    # Both recorded today; one starts in 2026-08 (September was due long before), one in 2031-08.
    sign(kashi, contract(f"c-{uid}-back", backdated, H100, start="2026-08-01T00:00:00+08:00"))
    sign(kashi, contract(f"c-{uid}-ontime", on_time, H100, start="2031-08-01T00:00:00+08:00"))
    enqueued = []
    with freeze_time("2026-10-05T00:00:00Z"):
        due = run_once(
            kashi.engine,
            lambda p, due: enqueued.extend((t, str(p)) for t in due),
            now=utc_now(),
            grace=GRACE,
            tenant_ids=[backdated, on_time],
        )
    assert [t for t, _ in due] == [on_time]  # it has no contract in force then: an empty close is harmless
    with freeze_time("2031-10-05T00:00:00Z"):
        run_once(
            kashi.engine,
            lambda p, due: enqueued.extend((t, str(p)) for t in due),
            now=utc_now(),
            grace=GRACE,
            tenant_ids=[backdated, on_time],
        )
    assert (on_time, "2031-09") in enqueued and all(t != backdated or p != "2026-09" for t, p in enqueued)
    answer = operator_client.get(f"/v1/periods/pending?tenant_id={backdated}")
    assert answer.status_code == 200, answer.text
    by_period = {item["period"]: item for item in answer.json()["items"]}
    september = by_period["2026-09"]
    assert (september["tenant_id"], september["reason"], september["contract_ids"]) == (
        backdated,
        "backdated",
        [f"c-{uid}-back"],
    )
    assert september["due_at"] == "2026-10-01T16:00:00Z" and "recorded after the period was due" in september["why"]
    assert "2026-07" not in by_period  # no contract in force: nothing to close
    assert operator_client.get(f"/v1/periods/pending?tenant_id={on_time}").json()["items"] == []
    closed = operator_client.post(f"/v1/periods/2026-09/close?tenant_id={backdated}")
    assert closed.status_code == 200
    after = operator_client.get(f"/v1/periods/pending?tenant_id={backdated}").json()["items"]
    assert "2026-09" not in {item["period"] for item in after}


def test_late_usage_is_listed_until_a_later_close_bills_it(kashi, uid, operator_client, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    send(kashi, uid, [gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T01:00:00+08:00")])
    assert operator_client.post(f"/v1/periods/2026-09/close?tenant_id={new_tenant}").status_code == 200
    assert operator_client.get(f"/v1/usage/late?tenant_id={new_tenant}").json()["items"] == []
    send(
        kashi, uid, [gpu_event(uid, 2, new_tenant, "2026-09-20T00:00:00+08:00", "2026-09-20T02:00:00+08:00", gpu="G1")]
    )
    (item,) = operator_client.get(f"/v1/usage/late?tenant_id={new_tenant}").json()["items"]
    assert (item["period"], item["card_seconds"], item["card_hours"], item["events"]) == (
        "2026-09",
        7200,
        "2.000000",
        1,
    )
    own = kashi.key("tenant", tenant=new_tenant)
    mine = operator_client.get(f"/v1/usage/late?tenant_id={new_tenant}", headers={"Authorization": f"Bearer {own}"})
    assert mine.json()["items"] == [item]
    other = kashi.key("tenant", tenant=f"t-{uid}-other")
    foreign = operator_client.get(
        f"/v1/usage/late?tenant_id={new_tenant}", headers={"Authorization": f"Bearer {other}"}
    )
    assert foreign.status_code == 404

    runner = CliRunner()
    data_dir = str(kashi.settings.data_dir)
    again = runner.invoke(app, ["close", "2026-09", "--tenant", new_tenant, "--data-dir", data_dir])
    assert again.exit_code == 0, again.output
    assert "was already closed for " + new_tenant in again.stderr
    assert (
        "late usage of 2026-09 for " + new_tenant + " waits for the next invoice: 2.000000 card-hours" in again.stderr
    )

    assert operator_client.post(f"/v1/periods/2026-10/close?tenant_id={new_tenant}").status_code == 200
    assert operator_client.get(f"/v1/usage/late?tenant_id={new_tenant}").json()["items"] == []


def test_late_usage_of_every_tenant_in_one_answer_matches_each_tenants_own(kashi, uid, operator_client):
    gpu_late, token_late, on_time = f"t-{uid}-gpu", f"t-{uid}-tok", f"t-{uid}-none"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": gpu_late, "name": "GPU late"}, actor="test")
        tenants.create(conn, {"id": token_late, "name": "Tokens late", "timezone": "Europe/Berlin"}, actor="test")
        tenants.create(conn, {"id": on_time, "name": "Nothing late"}, actor="test")
    for tenant in (gpu_late, token_late, on_time):
        sign(kashi, contract(f"c-{tenant}", tenant, H100))
    send(kashi, uid, [gpu_event(uid, 1, on_time, "2026-09-10T00:00:00+08:00", "2026-09-10T01:00:00+08:00")])
    for tenant in (gpu_late, token_late, on_time):
        assert operator_client.post(f"/v1/periods/2026-09/close?tenant_id={tenant}").status_code == 200
    assert operator_client.post(f"/v1/periods/2026-10/close?tenant_id={gpu_late}").status_code == 200
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 2, gpu_late, "2026-09-30T23:00:00+08:00", "2026-10-01T02:00:00+08:00", gpu="G1"),
            gpu_event(uid, 3, gpu_late, "2026-10-31T22:30:00+08:00", "2026-10-31T23:00:00+08:00", gpu="G2"),
            token_event(uid, 4, token_late, "2026-09-30T23:30:00+02:00", input_tokens=7, output_tokens=5),
            token_event(uid, 5, token_late, "2026-10-01T00:30:00+02:00"),  # October: not closed, not late
        ],
    )
    everyone = operator_client.get("/v1/usage/late").json()["items"]
    ours = [item for item in everyone if item["tenant_id"] in (gpu_late, token_late, on_time)]
    assert [(i["tenant_id"], i["period"], i["card_seconds"], i["tokens"], i["events"]) for i in ours] == [
        (gpu_late, "2026-09", 3600, 0, 1),
        (gpu_late, "2026-10", 3 * 3600 - 3600 + 1800, 0, 2),
        (token_late, "2026-09", 0, 12, 1),
    ]
    assert ours[0]["card_hours"] == "1.000000" and ours[1]["card_hours"] == "2.500000"
    for tenant in (gpu_late, token_late, on_time):
        own = operator_client.get(f"/v1/usage/late?tenant_id={tenant}").json()["items"]
        assert own == [item for item in ours if item["tenant_id"] == tenant]
