"""The union rule as a property: whatever the order, each GPU-second is claimed exactly once."""

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.events import UsageRecord
from metering.intervals import length
from metering.rollups import Covered, claim

span = st.tuples(st.integers(0, 20_000), st.integers(1, 5_000)).map(lambda p: (p[0], p[0] + p[1]))
report = st.tuples(st.sampled_from(["G1", "G2"]), st.sampled_from(["t-a", "t-b"]), span)


def record(gpu, tenant, interval) -> UsageRecord:
    return UsageRecord("gpu", "node/x", f"{gpu}{interval}", tenant, 0.0, None, {}, gpu, "H100-SXM", *interval)


@settings(max_examples=200)
@given(st.lists(report, max_size=25), st.randoms(use_true_random=False))
def test_each_gpu_second_is_claimed_once_and_overlaps_of_others_are_conflicts(reports, rnd):
    numbered = list(enumerate(record(*r) for r in reports))
    rnd.shuffle(numbered)
    pieces, conflicts = claim(numbered, {})
    for gpu in ("G1", "G2"):
        mine = [(p.start, p.end) for p in pieces if p.gpu == gpu]
        assert (
            sum(e - s for s, e in mine) == length(mine) == length((r.start, r.end) for _, r in numbered if r.gpu == gpu)
        )
    for seq, rec in numbered:  # what a report did not add was either its own earlier time or a conflict
        added = sum(p.end - p.start for p in pieces if p.seq == seq)
        contested = sum(c.end - c.start for c in conflicts if c.seq == seq)
        assert added + contested <= rec.end - rec.start
        assert all(c.tenant_id != c.holder_tenant_id for c in conflicts)


def test_claiming_against_stored_coverage_adds_only_new_seconds():
    pieces, conflicts = claim(
        [(5, record("G1", "t-a", (0, 100)))], {"G1": [Covered(20, 30, "t-a"), Covered(50, 60, "t-b")]}
    )
    assert [(p.start, p.end) for p in pieces] == [(0, 20), (30, 50), (60, 100)]
    assert [(c.start, c.end, c.holder_tenant_id) for c in conflicts] == [(50, 60, "t-b")]
