"""Windows, intervals and event shapes (SPEC §3)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from metering.agent.events import Holder, gpu_usage, utilization_text
from metering.agent.gpu_models import ModelNames
from metering.agent.usage import Observation, Window
from metering.agent.windows import epoch, rfc3339, window_start

SHANGHAI = ZoneInfo("Asia/Shanghai")
A, B = Holder("tenant-a"), Holder("tenant-b", "c-7")


def test_minute_windows_across_a_month_boundary_in_shanghai():
    before = datetime(2026, 9, 30, 23, 59, 59, tzinfo=SHANGHAI)
    after = datetime(2026, 10, 1, 0, 0, 0, tzinfo=SHANGHAI)
    assert rfc3339(window_start(before, 60, SHANGHAI), SHANGHAI) == "2026-09-30T23:59:00+08:00"
    assert rfc3339(window_start(after, 60, SHANGHAI), SHANGHAI) == "2026-10-01T00:00:00+08:00"
    assert window_start(after, 60, SHANGHAI) - window_start(before, 60, SHANGHAI) == 60
    # the same instants seen in UTC land in the same windows
    assert window_start(before.astimezone(UTC), 60, SHANGHAI) == window_start(before, 60, SHANGHAI)


def test_hour_and_day_windows_follow_the_local_clock():
    t = datetime(2026, 10, 1, 0, 30, tzinfo=SHANGHAI)
    assert rfc3339(window_start(t, 3600, SHANGHAI), SHANGHAI) == "2026-10-01T00:00:00+08:00"
    assert rfc3339(window_start(t, 86400, SHANGHAI), SHANGHAI) == "2026-10-01T00:00:00+08:00"
    kathmandu = ZoneInfo("Asia/Kathmandu")  # +05:45
    k = datetime(2026, 10, 1, 10, 20, tzinfo=kathmandu)
    assert rfc3339(window_start(k, 3600, kathmandu), kathmandu) == "2026-10-01T10:00:00+05:45"


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        epoch(datetime(2026, 10, 1))


def _window_with(observations, carried=None):
    w = Window(1000, 1060, carried or {})
    for gpu, at, holder, util in observations:
        w.observe(gpu, Observation(at, holder, util, "H100-SXM"))
    return w


def test_allocation_change_mid_window_splits_the_window():
    w = _window_with(
        [("g", 1000, A, 0.5), ("g", 1010, A, 0.7), ("g", 1020, B, 0.1), ("g", 1030, B, 0.3), ("g", 1050, B, None)]
    )
    pieces = [(i.holder, i.start, i.end, i.utilization) for i in w.intervals()]
    assert pieces == [(A, 1000, 1020, pytest.approx(0.6)), (B, 1020, 1060, pytest.approx(0.2))]


def test_released_gpu_bills_only_until_release_and_idle_gpu_bills_nothing():
    w = _window_with([("g", 1000, A, 0.9), ("g", 1030, None, 0.0), ("idle", 1000, None, 0.0)])
    assert [(i.gpu, i.start, i.end) for i in w.intervals()] == [("g", 1000, 1030)]
    assert w.holders_at_end() == {"g": None, "idle": None}


def test_first_window_starts_at_the_first_observation_but_carried_holders_cover_the_start():
    fresh = _window_with([("g", 1025, A, 0.5)])
    assert [(i.start, i.end) for i in fresh.intervals()] == [(1025, 1060)]
    carried = _window_with([("g", 1025, A, 0.5)], carried={"g": A})
    assert [(i.start, i.end, i.utilization) for i in carried.intervals()] == [(1000, 1060, 0.5)]
    changed = _window_with([("g", 1025, B, 0.5)], carried={"g": A})
    assert [(i.holder, i.start, i.end) for i in changed.intervals()] == [(A, 1000, 1025), (B, 1025, 1060)]


def test_observation_outside_the_window_is_a_bug():
    with pytest.raises(ValueError):
        _window_with([("g", 1060, A, None)])


def test_event_ids_are_deterministic_and_shapes_follow_the_spec():
    kwargs = dict(
        source="node/n7",
        node="n7",
        gpu="GPU-5f3c",
        gpu_model="RTX-4090",
        holder=B,
        start=1790784000,
        end=1790784060,
        utilization=0.834,
        tz=SHANGHAI,
    )
    event = gpu_usage(**kwargs)
    assert event == gpu_usage(**kwargs)
    assert event == {
        "specversion": "1.0",
        "id": "n7-GPU-5f3c-1790784000",
        "source": "node/n7",
        "type": "gpu.usage",
        "subject": "tenant-b",
        "time": "2026-10-01T00:01:00+08:00",
        "data": {
            "node": "n7",
            "gpu": "GPU-5f3c",
            "gpu_model": "RTX-4090",
            "start": "2026-10-01T00:00:00+08:00",
            "end": "2026-10-01T00:01:00+08:00",
            "utilization": "0.83",
            "contract_id": "c-7",
        },
    }
    other = gpu_usage(**{**kwargs, "start": 1790784020})
    assert other["id"] != event["id"]


def test_utilization_text_is_a_clamped_two_place_decimal():
    assert [utilization_text(v) for v in (0, 0.005, 0.835, 1.2, -0.1)] == ["0.00", "0.01", "0.84", "1.00", "0.00"]


@pytest.mark.parametrize(
    ("driver", "catalog"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("NVIDIA A800-SXM4-80GB", "A800"),
        ("NVIDIA H20", "H20"),
        ("NVIDIA L40S", "L40S"),
        ("Ascend910B3", "Ascend-910B3"),
        ("Ascend910B", "Ascend-910B"),
        ("910B4", "Ascend-910B"),
        ("NVIDIA  h800 ", "H800"),
        ("Moore Threads MTT S4000", "Moore Threads MTT S4000"),  # unknown: as is, never dropped
    ],
)
def test_driver_names_map_to_catalog_names(driver, catalog):
    assert ModelNames().catalog_name(driver) == catalog


def test_operator_table_extends_and_overrides():
    names = ModelNames({"Moore Threads MTT S4000": "MTT-S4000", "NVIDIA H20": "H20-96G"})
    assert names.catalog_name("Moore Threads MTT S4000") == "MTT-S4000"
    assert names.catalog_name("NVIDIA H20") == "H20-96G"
