"""simulate_events and its oracle expected_card_seconds (SPEC §2: a GPU-second counts once)."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.agent.simulate import expected_card_seconds, expected_tokens, simulate_events, union_seconds

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 10, 1, tzinfo=SHANGHAI)


def _per_gpu_window_truth(events):
    """Card-seconds from the base windows alone: the overlaps and resends must add nothing."""
    total = Counter()
    for e in events:
        if e["type"] == "gpu.usage" and "-overlap-" not in e["id"]:
            d = e["data"]
            secs = int((datetime.fromisoformat(d["end"]) - datetime.fromisoformat(d["start"])).total_seconds())
            total[(e["subject"], d["gpu_model"], e["id"])] = secs
    out = Counter()
    for (tenant, model, _), secs in total.items():
        out[(tenant, model)] += secs
    return dict(out)


def test_same_seed_gives_the_same_events():
    assert simulate_events(start=START, seed=7) == simulate_events(start=START, seed=7)
    assert simulate_events(start=START, seed=7) != simulate_events(start=START, seed=8)


def test_events_are_cloudevents_as_spec_section_3():
    events = simulate_events(start=START, gpus=8, tenants=3, token_events=5, window_s=600)
    assert {e["type"] for e in events} == {"gpu.usage", "llm.tokens"}
    for e in events:
        assert e["specversion"] == "1.0" and e["source"] == "node/sim-1"
        assert e["time"].endswith("+08:00")
        if e["type"] == "gpu.usage":
            d = e["data"]
            assert d["node"] == "sim-1" and d["gpu"].startswith("GPU-") and d["gpu_model"] == "H100-SXM"
            assert datetime.fromisoformat(d["end"]) > datetime.fromisoformat(d["start"])
            assert datetime.fromisoformat(d["end"]) - datetime.fromisoformat(d["start"]) <= timedelta(hours=24)
            assert isinstance(d["utilization"], str) and 0 <= float(d["utilization"]) <= 1
        else:
            d = e["data"]
            assert all(isinstance(d[k], int) and d[k] >= 0 for k in ("input_tokens", "output_tokens"))
            assert d["input_tokens"] + d["output_tokens"] + d["cached_tokens"] > 0
    assert {e["subject"] for e in events} <= {"tenant-1", "tenant-2", "tenant-3"}


def test_allocation_has_leases_and_idle_gpus():
    events = simulate_events(start=START, gpus=16, tenants=2, hours=48, resend_ratio=0, overlap_ratio=0)
    per_gpu = Counter(e["data"]["gpu"] for e in events)
    assert len(per_gpu) >= 10
    assert sum(per_gpu.values()) < 16 * 48  # some GPU-hours idle
    assert {e["subject"] for e in events} == {"tenant-1", "tenant-2"}


def test_resends_and_overlaps_are_present_and_change_nothing():
    events = simulate_events(start=START, gpus=16, hours=24, resend_ratio=0.1, overlap_ratio=0.1)
    keys = Counter((e["source"], e["id"]) for e in events)
    assert any(n > 1 for n in keys.values())
    assert any("-overlap-" in e["id"] for e in events)
    assert expected_card_seconds(events) == _per_gpu_window_truth(events)


def test_tenant_ids_and_model_are_used_as_given():
    events = simulate_events(start=START, tenant_ids=["acme", "globex"], gpu_model="RTX-4090", gpus=4)
    assert {e["subject"] for e in events} <= {"acme", "globex"}
    assert {k[1] for k in expected_card_seconds(events)} == {"RTX-4090"}


def test_naive_start_is_refused():
    with pytest.raises(ValueError):
        simulate_events(start=datetime(2026, 10, 1))


def test_union_counts_overlap_once():
    assert union_seconds([(0, 10), (5, 15), (20, 30), (30, 31), (21, 22)]) == 26


def test_expected_tokens_counts_resends_once():
    events = simulate_events(start=START, gpus=0, token_events=20, seed=3)
    doubled = events + [dict(events[0])]
    assert expected_tokens(doubled) == expected_tokens(events)
    assert sum(v[1] for v in expected_tokens(events).values()) == sum(e["data"]["output_tokens"] for e in events)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    gpus=st.integers(0, 6),
    tenants=st.integers(1, 4),
    hours=st.integers(1, 30),
    window_s=st.sampled_from([60, 600, 900, 3600, 7200]),
    resend=st.floats(0, 0.5),
    overlap=st.floats(0, 0.5),
    shuffle_seed=st.integers(0, 1000),
    offset_h=st.integers(-12, 14),
)
def test_expected_card_seconds_is_the_union_whatever_the_order(
    seed, gpus, tenants, hours, window_s, resend, overlap, shuffle_seed, offset_h
):
    start = datetime(2026, 1, 31, 23, tzinfo=timezone(timedelta(hours=offset_h)))
    events = simulate_events(
        start=start,
        gpus=gpus,
        tenants=tenants,
        hours=min(hours, 30),
        window_s=window_s,
        seed=seed,
        resend_ratio=resend,
        overlap_ratio=overlap,
    )
    truth = _per_gpu_window_truth(events)
    assert expected_card_seconds(events) == truth
    shuffled = list(events)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert expected_card_seconds(shuffled) == truth
    assert expected_card_seconds(shuffled + shuffled[: len(shuffled) // 3]) == truth
    # nothing past the simulated span
    end = start + timedelta(hours=hours)
    assert all(datetime.fromisoformat(e["data"]["end"]) <= end for e in events if e["type"] == "gpu.usage")


def test_union_seconds_matches_a_brute_force_set():
    rng = random.Random(1)
    for _ in range(200):
        spans = [(a, a + rng.randint(1, 30)) for a in (rng.randint(0, 100) for _ in range(rng.randint(0, 8)))]
        covered = {s for a, b in spans for s in range(a, b)}
        assert union_seconds(spans) == len(covered)


def test_start_in_utc_renders_offset():
    events = simulate_events(start=datetime(2026, 10, 1, tzinfo=UTC), gpus=2)
    assert all(e["time"].endswith("+00:00") for e in events)


def test_simulated_status_covers_every_gpu_window_idle_allocated_and_down():
    from datetime import datetime, timedelta, timezone

    from metering.agent.simulate import expected_card_seconds, expected_status_seconds, simulate_events
    from metering.events import validate_batch

    start = datetime(2026, 10, 1, tzinfo=timezone(timedelta(hours=8)))
    plain = simulate_events(gpus=8, start=start, hours=24, seed=3)
    events = simulate_events(gpus=8, start=start, hours=24, seed=3, status=True, down_ratio=0.5)
    states = expected_status_seconds(events)
    assert set(states) == {"idle", "allocated", "down"} and sum(states.values()) == 8 * 24 * 3600
    assert states["allocated"] == sum(expected_card_seconds(events).values())  # a down card is not billed
    assert [e for e in plain if e["type"] != "gpu.status"] == plain  # without status: the old events
    validate_batch([e for e in events if e["type"] == "gpu.status"][:100])
