"""gpu.status union and runs (SPEC §15) [pure]: first report wins per GPU-second, runs are canonical."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from metering.events import UsageRecord
from metering.intervals import length, union
from metering.status import Stretch, claim_status, lit_overlap, merge_runs, status_hourly


def _status(seq: int, start: int, end: int, state: str = "idle", gpu: str = "g") -> tuple[int, UsageRecord]:
    data = {"node": "n1", "gpu": gpu, "gpu_model": "H100-SXM", "state": state}
    return seq, UsageRecord("status", "node/n1", f"e{seq}", "", float(end), None, data, gpu, "H100-SXM", start, end)


def test_an_overlapping_later_report_fills_only_the_gap_and_the_first_state_wins():
    pieces = claim_status([_status(1, 0, 3600, "idle"), _status(2, 1800, 5400, "down")], {})
    assert [(p.start, p.end, p.state) for p in pieces] == [(0, 3600, "idle"), (3600, 5400, "down")]
    by_gpu, by_node = status_hourly(pieces)
    assert (by_gpu[("g", 0)].reported, by_gpu[("g", 3600)].down) == (3600, 1800)
    assert by_node[("n1", "H100-SXM", 3600)].reported == 1800


def test_known_runs_are_not_reported_again():
    pieces = claim_status([_status(5, 0, 600)], {"g": [Stretch(0, 300, "down")]})
    assert [(p.start, p.end, p.state) for p in pieces] == [(300, 600, "idle")]


def test_lit_overlap_leaves_out_down_stretches():
    runs = [Stretch(0, 100, "idle"), Stretch(100, 200, "down"), Stretch(200, 300, "allocated")]
    assert lit_overlap(50, 250, runs) == [(50, 100), (200, 250)]


intervals = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(1, 900), st.sampled_from(["idle", "down"])), min_size=1, max_size=30
)


@given(intervals)
def test_reported_seconds_are_the_union_and_runs_do_not_depend_on_batching(raw):
    records = [_status(i, a, a + n, state) for i, (a, n, state) in enumerate(raw)]
    whole = claim_status(records, {})
    assert sum(p.end - p.start for p in whole) == length(union([(r.start, r.end) for _, r in records]))
    # the same records in two batches, the second seeing the first's runs, give the same runs
    half = len(records) // 2
    first = claim_status(records[:half], {})
    runs = merge_runs(Stretch(p.start, p.end, p.state) for p in first)
    second = claim_status(records[half:], {"g": runs})
    assert merge_runs([*runs, *(Stretch(p.start, p.end, p.state) for p in second)]) == merge_runs(
        Stretch(p.start, p.end, p.state) for p in whole
    )
