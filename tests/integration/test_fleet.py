"""gpu.status folded into the fleet's rollups and registry in the recording transaction (SPEC §15)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from billing.services.replay import verify_all
from tests.integration.billing_scenario import send
from tests.integration.fleet_kit import status, usage


def _hourly(kashi, gpu):
    with kashi.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT hour, reported_s, down_s, allocated_s, busy_s FROM gpu_status_hourly WHERE gpu = :g "
                    "ORDER BY hour"
                ),
                {"g": gpu},
            )
        ]


def _runs(kashi, gpu):
    with kashi.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT start_s, end_s, state FROM gpu_status_coverage WHERE gpu = :g ORDER BY start_s"),
                {"g": gpu},
            )
        ]


H0 = "2026-10-01T00:00:00Z"
H0_30 = "2026-10-01T00:30:00Z"
H1 = "2026-10-01T01:00:00Z"
H1_30 = "2026-10-01T01:30:00Z"
H2 = "2026-10-01T02:00:00Z"
E0 = 1790812800  # 2026-10-01T00:00:00Z


def test_resent_and_overlapping_status_is_counted_once_per_gpu_second(kashi, uid):
    send(kashi, uid, [status(uid, "g0", H0, H1, "idle")])
    send(
        kashi,
        uid,
        [
            status(uid, "g0", H0, H1, "idle"),  # resent: same (source, id)
            status(uid, "g0", H0_30, H1_30, "down", n=f"{uid}-other", reason="XID 79"),
        ],
    )  # overlaps
    assert _hourly(kashi, f"{uid}-g0") == [(E0, 3600, 0, 0, Decimal(0)), (E0 + 3600, 1800, 1800, 0, Decimal(0))]
    assert _runs(kashi, f"{uid}-g0") == [(E0, E0 + 3600, "idle"), (E0 + 3600, E0 + 5400, "down")]


def test_minute_windows_of_one_state_are_one_run(kashi, uid):
    minutes = [f"2026-10-01T00:{m:02d}:00Z" for m in range(0, 60, 10)] + [H1]
    send(kashi, uid, [status(uid, "g0", a, b, "idle") for a, b in zip(minutes[::2], minutes[1::2], strict=False)])
    send(kashi, uid, [status(uid, "g0", a, b, "idle") for a, b in zip(minutes[1::2], minutes[2::2], strict=False)])
    assert _runs(kashi, f"{uid}-g0") == [(E0, E0 + 3600, "idle")]


def test_lit_allocated_counts_usage_while_not_down_whichever_arrives_first(kashi, uid, new_tenant):
    send(kashi, uid, [usage(uid, "g0", new_tenant, H0, H2, utilization="0.5")])
    send(kashi, uid, [status(uid, "g0", H0, H0_30, "allocated"), status(uid, "g0", H0_30, H1, "down")])
    send(kashi, uid, [status(uid, "g1", H0, H1, "allocated"), usage(uid, "g1", new_tenant, H0, H1)])
    with kashi.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT hour, allocated_s, lit_allocated_s, busy_s FROM tenant_fleet_hourly "
                "WHERE tenant_id = :t ORDER BY hour"
            ),
            {"t": new_tenant},
        ).all()
    # g0: 2 h allocated, 30 min lit in the first hour (down after, silent in the second hour); g1: 1 h lit
    assert [tuple(r) for r in rows] == [
        (E0, 7200, 1800 + 3600, Decimal("1800.0")),
        (E0 + 3600, 3600, 0, Decimal("1800.0")),
    ]


def test_registry_keeps_first_report_and_the_state_of_the_report_ending_last(kashi, uid, operator_client):
    send(kashi, uid, [status(uid, "g0", H1, H2, "down", reason="GPU fell off the bus")])
    send(kashi, uid, [status(uid, "g0", H0, H1, "idle")])  # older, arrives later
    answer = operator_client.get("/v1/fleet/gpus", params={"node": f"{uid}-n1"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "items": [
            {
                "gpu": f"{uid}-g0",
                "node": f"{uid}-n1",
                "gpu_model": "H100-SXM",
                "state": "down",
                "reason": "GPU fell off the bus",
                "last_report_start": "2026-10-01T01:00:00Z",
                "last_report_end": "2026-10-01T02:00:00Z",
                "first_seen": "2026-10-01T00:00:00Z",
                "retired_at": None,
            }
        ],
        "next_cursor": None,
    }


def test_fleet_list_pages_with_a_cursor(kashi, uid, operator_client):
    send(kashi, uid, [status(uid, f"g{i}", H0, H1, "idle") for i in range(3)])
    first = operator_client.get("/v1/fleet/gpus", params={"node": f"{uid}-n1", "limit": 2}).json()
    assert [g["gpu"] for g in first["items"]] == [f"{uid}-g0", f"{uid}-g1"]
    second = operator_client.get(
        "/v1/fleet/gpus", params={"node": f"{uid}-n1", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [g["gpu"] for g in second["items"]] == [f"{uid}-g2"] and second["next_cursor"] is None


def test_retire_once_and_not_before_the_first_report(kashi, uid, operator_client):
    send(kashi, uid, [status(uid, "g0", H0, H1, "idle")])
    path = f"/v1/fleet/gpus/{uid}-g0/retire"
    early = operator_client.post(path, json={"at": "2026-09-30T00:00:00Z"})
    assert early.status_code == 422 and early.json()["error"]["details"][0]["field"] == "at"
    unknown = operator_client.post(path, json={"at": H1, "why": "old"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "why"
    done = operator_client.post(path, json={"at": "2026-10-01T09:00:00+08:00"})
    assert done.status_code == 200 and done.json()["retired_at"] == "2026-10-01T01:00:00Z"
    assert operator_client.post(path, json={"at": H1}).status_code == 409
    assert operator_client.post(f"/v1/fleet/gpus/{uid}-never/retire", json={"at": H1}).status_code == 404


def test_replay_rebuilds_the_fleet_projections_identically(kashi, uid, new_tenant, operator_client):
    send(
        kashi,
        uid,
        [
            usage(uid, "g0", new_tenant, H0, H2, utilization="0.25"),
            status(uid, "g0", H0, H1, "allocated"),
            status(uid, "g1", H0, H2, "idle"),
        ],
    )
    send(
        kashi,
        uid,
        [status(uid, "g0", H1, H2, "down", reason="XID 48"), status(uid, "g0", H0_30, H1_30, "idle", n=f"{uid}-x")],
    )
    operator_client.post(f"/v1/fleet/gpus/{uid}-g1/retire", json={"at": H2})
    differences = [d for d in verify_all(kashi.engine) if "fleet" in d or "status" in d or "model_prices" in d]
    assert differences == []


def test_two_recorders_of_one_node_at_once_count_every_second_once(kashi, uid, new_tenant):
    """Batches of usage and status of the same node and hours recorded in parallel threads: no
    deadlock, and the rollups are what one recorder would have written."""
    import threading

    from metering.events import validate_batch
    from metering.store import record_batch

    minutes = [f"2026-10-01T00:{m:02d}:00Z" for m in range(60)] + [H1]
    windows = list(zip(minutes, minutes[1:], strict=False))
    batches = []
    for part in range(4):
        events = []
        for a, b in windows[part::4]:
            for g in range(4):
                events.append(status(uid, f"g{g}", a, b, "allocated" if g < 2 else "idle"))
                if g < 2:
                    events.append(usage(uid, f"g{g}", new_tenant, a, b, utilization="0.5"))
        batches.append(validate_batch(events))
    errors = []

    def record(n):
        try:
            with kashi.engine.begin() as conn:
                record_batch(conn, f"{uid}-b{n}", batches[n])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with kashi.engine.connect() as conn:
        node = conn.execute(
            text("SELECT reported_s, down_s, allocated_s, busy_s FROM fleet_hourly WHERE node = :n"), {"n": f"{uid}-n1"}
        ).all()
        lit = conn.execute(
            text("SELECT sum(lit_allocated_s) FROM tenant_fleet_hourly WHERE tenant_id = :t"), {"t": new_tenant}
        ).scalar_one()
    assert [tuple(r) for r in node] == [(4 * 3600, 0, 2 * 3600, Decimal("3600.0"))]
    assert lit == 2 * 3600
    assert _runs(kashi, f"{uid}-g0") == [(E0, E0 + 3600, "allocated")]


def test_busy_falls_back_to_the_status_utilization_when_usage_gives_none(kashi, uid, new_tenant, operator_client):
    model = f"B-{uid}"
    send(
        kashi,
        uid,
        [
            usage(uid, "g0", new_tenant, H0, H2, model=model),  # no utilization
            status(uid, "g0", H0, H1, "allocated", model=model, utilization="0.4"),
            status(uid, "g0", H1, H2, "allocated", model=model),
            usage(uid, "g1", new_tenant, H0, H1, model=model, utilization="0.9"),
            status(uid, "g1", H0, H1, "allocated", model=model, utilization="0.1"),
        ],
    )
    total = operator_client.get(
        "/v1/reports/utilization",
        params={"period": "2026-10", "gpu_model": model, "node": f"{uid}-n1", "group_by": "node"},
    ).json()
    # hour 0 of the node: usage gave a utilization (g1) so usage counts: 0.9 h; hour 1: none, status gives none
    assert total["rows"][0]["busy"] == "0.900000"
    only_status = f"{uid}x"
    send(
        kashi,
        only_status,
        [
            usage(only_status, "g0", new_tenant, H0, H1, model=model),
            status(only_status, "g0", H0, H1, "allocated", model=model, utilization="0.4"),
        ],
    )
    node = operator_client.get(
        "/v1/reports/utilization",
        params={"period": "2026-10", "gpu_model": model, "node": f"{only_status}-n1", "group_by": "node"},
    ).json()
    assert node["rows"][0]["busy"] == "0.400000"
