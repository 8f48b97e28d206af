"""The utilisation report (SPEC §15) of small fleets, computed by hand: idle, allocated, down and
silent GPUs across a DST day (America/New_York) and a month boundary (Asia/Shanghai)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from billing.core.periods import Period
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, send, sign
from tests.integration.fleet_kit import status, usage

NY = "America/New_York"


@pytest.fixture
def model(operator_client, uid):
    """A catalog model of this test only (so other tests' GPUs never enter its figures), at 10 CNY/card-hour."""
    name = f"X-{uid}"
    answer = operator_client.post(
        "/v1/gpu-models",
        json={"name": name, "fp16_tflops": "100", "source": "test", "list_price_per_card_hour": "10.00"},
    )
    assert answer.status_code == 201, answer.text
    return name


def _dst_fleet(kashi, uid, tenant, model, operator_client):
    # 2030-11-03 in New York is 25 hours long: 04:00Z to 05:00Z the next day (clocks go back at 02:00 EDT).
    day_end = "2030-11-04T05:00:00Z"
    send(
        kashi,
        uid,
        [
            status(uid, "a", "2030-11-03T04:00:00Z", "2030-11-03T10:00:00Z", "idle", model=model),
            status(uid, "a", "2030-11-03T10:00:00Z", "2030-11-03T15:00:00Z", "allocated", model=model),
            status(uid, "a", "2030-11-03T15:00:00Z", day_end, "idle", model=model),
            usage(uid, "a", tenant, "2030-11-03T10:00:00Z", "2030-11-03T15:00:00Z", model=model, utilization="0.5"),
            status(uid, "b", "2030-11-03T04:00:00Z", "2030-11-03T06:00:00Z", "down", model=model, reason="XID 79"),
            status(uid, "b", "2030-11-03T06:00:00Z", day_end, "idle", model=model),
            status(uid, "c", "2030-11-03T04:00:00Z", "2030-11-03T05:00:00Z", "idle", model=model),  # then silent
        ],
    )
    assert operator_client.post(f"/v1/fleet/gpus/{uid}-c/retire", json={"at": day_end}).status_code == 200


def test_dst_day_report_by_day_and_model_by_hand(kashi, uid, new_tenant, model, operator_client):
    _dst_fleet(kashi, uid, new_tenant, model, operator_client)
    params = {"period": "2030-11", "tz": NY, "gpu_model": model}
    by_day = operator_client.get("/v1/reports/utilization", params={**params, "group_by": "day"})
    assert by_day.status_code == 200, by_day.text
    body = by_day.json()
    assert (body["period_start"], body["period_end"]) == ("2030-11-01T04:00:00Z", "2030-12-01T05:00:00Z")
    days = {row["day"]: row for row in body["rows"]}
    assert len(days) == 30
    assert days["2030-11-03"] == {
        "group": "2030-11-03",
        "day": "2030-11-03",
        "capacity": "75.000000",
        "reported": "51.000000",
        "down": "2.000000",
        "lit": "49.000000",
        "allocated": "5.000000",
        "busy": "2.500000",
        "dark": "24.000000",
        "lit_rate": "0.6533",
        "allocation_rate": "0.1020",
        "busy_rate": "0.5000",
        "idle_value": "440.00",
    }
    assert days["2030-11-02"]["capacity"] == "0.000000" and days["2030-11-02"]["lit_rate"] is None
    assert (days["2030-11-04"]["capacity"], days["2030-11-04"]["dark"]) == ("48.000000", "48.000000")
    # a and b are in the fleet 25 + 27 × 24 = 673 h each; c 25 h until its retirement
    assert body["total"] == {
        "capacity": "1371.000000",
        "reported": "51.000000",
        "down": "2.000000",
        "lit": "49.000000",
        "allocated": "5.000000",
        "busy": "2.500000",
        "dark": "1320.000000",
        "lit_rate": "0.0357",
        "allocation_rate": "0.1020",
        "busy_rate": "0.5000",
        "idle_value": "440.00",
    }
    by_model = operator_client.get("/v1/reports/utilization", params={**params, "group_by": "model"}).json()
    assert [r["gpu_model"] for r in by_model["rows"]] == [model]
    assert {k: v for k, v in by_model["rows"][0].items() if k not in ("group", "gpu_model")} == body["total"]
    by_node = operator_client.get("/v1/reports/utilization", params={**params, "group_by": "node"}).json()
    assert [(r["node"], r["capacity"]) for r in by_node["rows"]] == [(f"{uid}-n1", "1371.000000")]


def test_idle_value_is_null_without_a_list_price(kashi, uid, operator_client):
    name = f"Y-{uid}"
    added = operator_client.post("/v1/gpu-models", json={"name": name, "fp16_tflops": "1", "source": "t"})
    assert added.status_code == 201
    send(kashi, uid, [status(uid, "a", "2030-11-03T04:00:00Z", "2030-11-03T05:00:00Z", "idle", model=name)])
    body = operator_client.get(
        "/v1/reports/utilization", params={"period": "2030-11", "tz": NY, "gpu_model": name}
    ).json()
    assert body["total"]["idle_value"] is None and body["unpriced_models"] == [name]
    priced = operator_client.post("/v1/gpu-models", json={"name": name, "list_price_per_card_hour": "2.5"})
    assert priced.status_code == 200 and priced.json()["list_price_per_card_hour"] == "2.5"
    body = operator_client.get(
        "/v1/reports/utilization", params={"period": "2030-11", "tz": NY, "gpu_model": name}
    ).json()
    assert body["total"]["idle_value"] == "2.50"


def test_month_boundary_in_shanghai_and_tenant_allocated_equals_billed_card_hours(
    kashi, uid, new_tenant, model, operator_client
):
    sign(
        kashi,
        contract(
            f"c-{uid}",
            new_tenant,
            {"id": "h", "pricing": "gpu_hour", "gpu_model": model, "unit_price": "3.00"},
            start="2030-10-01T00:00:00+08:00",
        ),
    )
    send(
        kashi,
        uid,
        [
            status(uid, "a", "2030-10-31T23:00:00+08:00", "2030-11-01T01:00:00+08:00", "allocated", model=model),
            usage(uid, "a", new_tenant, "2030-10-31T22:30:00+08:00", "2030-11-01T00:45:00+08:00", model=model),
        ],
    )
    october = operator_client.get("/v1/reports/utilization", params={"period": "2030-10", "gpu_model": model}).json()
    assert october["timezone"] == "Asia/Shanghai"
    total = october["total"]
    assert (total["capacity"], total["reported"], total["lit"], total["allocated"], total["idle_value"]) == (
        "1.000000",
        "1.000000",
        "1.000000",
        "1.500000",
        "0.00",
    )  # allocated before the first status: not lit
    november = operator_client.get("/v1/reports/utilization", params={"period": "2030-11", "gpu_model": model}).json()
    assert (
        november["total"]["capacity"],
        november["total"]["reported"],
        november["total"]["dark"],
        november["total"]["allocated"],
    ) == ("720.000000", "1.000000", "719.000000", "0.750000")
    tenants = operator_client.get(
        "/v1/reports/utilization", params={"period": "2030-10", "group_by": "tenant", "gpu_model": model}
    ).json()
    (row,) = [r for r in tenants["rows"] if r["tenant_id"] == new_tenant]
    close_tenant(kashi.engine, new_tenant, Period.parse("2030-10"), now=datetime(2030, 11, 5, tzinfo=UTC))
    invoice = operator_client.get("/v1/invoices", params={"tenant_id": new_tenant, "period": "2030-10"}).json()
    (line,) = [
        li
        for inv in invoice["items"]
        for li in operator_client.get(f"/v1/invoices/{inv['id']}").json()["lines"]
        if li["kind"] == "gpu_hour"
    ]
    assert Decimal(row["allocated"]) == Decimal(line["quantity"]) == Decimal("1.5")
    assert row["capacity"] is None and row["busy"] == "0.000000"


def test_csv_xlsx_and_png_answer(kashi, uid, new_tenant, model, operator_client, tmp_path):
    _dst_fleet(kashi, uid, new_tenant, model, operator_client)
    params = {"period": "2030-11", "tz": NY, "gpu_model": model}
    csv = operator_client.get("/v1/reports/utilization", params={**params, "format": "csv"})
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("period,timezone,gpu_model,capacity") and lines[-1].split(",")[2] == "total"
    xlsx = operator_client.get("/v1/reports/utilization", params={**params, "format": "xlsx"})
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert {"Summary", "By model", "By node", "By day", "By tenant", "Charts"} <= set(book.sheetnames)
    png = operator_client.get("/v1/reports/utilization", params={**params, "format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (
        operator_client.get("/v1/reports/utilization", params={"period": "2030-11", "group_by": "rack"}).status_code
        == 422
    )


def test_tenant_keys_may_not_read_the_fleet(kashi, new_tenant):
    import httpx

    key = kashi.key("tenant", tenant=new_tenant)
    answer = httpx.get(
        f"{kashi.base_url}/v1/reports/utilization",
        params={"period": "2030-11"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 403


def test_simulated_node_with_idle_and_down_gpus_reports_what_it_sent(kashi, uid, model, operator_client):
    from metering.agent.simulate import expected_card_seconds, expected_status_seconds, simulate_events

    tenant = f"t-{uid}-sim"
    events = simulate_events(
        gpus=8,
        tenant_ids=[tenant],
        hours=6,
        start=datetime(2031, 5, 10, tzinfo=UTC),
        seed=7,
        gpu_model=model,
        source=f"node/{uid}",
        status=True,
        down_ratio=0.25,
        window_s=600,
    )
    for index in range(0, len(events), 500):
        send(kashi, uid, events[index : index + 500])
    states = expected_status_seconds(events)
    assert states.get("down") and states.get("idle")
    body = operator_client.get("/v1/reports/utilization", params={"period": "2031-05", "gpu_model": model}).json()
    total = body["total"]

    def hours(seconds: int) -> str:
        return str((Decimal(seconds) / 3600).quantize(Decimal("0.000001")))

    assert total["reported"] == hours(sum(states.values())) and total["down"] == hours(states["down"])
    assert total["allocated"] == hours(sum(expected_card_seconds(events).values()))


def test_half_hour_zone_and_unknown_zone(kashi, uid, model, operator_client):
    send(kashi, uid, [status(uid, "a", "2030-10-14T18:00:00Z", "2030-10-14T20:00:00Z", "idle", model=model)])
    params = {"period": "2030-10", "gpu_model": model, "group_by": "day"}
    kolkata = operator_client.get("/v1/reports/utilization", params={**params, "tz": "Asia/Kolkata"})
    assert kolkata.status_code == 200, kolkata.text
    days = {row["day"]: row["reported"] for row in kolkata.json()["rows"]}
    # hours go to the local day they start on: 18:00Z is 23:30 on the 14th, 19:00Z 00:30 on the 15th
    assert (len(days), days["2030-10-14"], days["2030-10-15"]) == (31, "1.000000", "1.000000")
    unknown = operator_client.get("/v1/reports/utilization", params={**params, "tz": "Mars/Olympus"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "tz"
