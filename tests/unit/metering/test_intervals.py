"""Interval union and hour splitting (SPEC §2): no second lost, none counted twice."""

from hypothesis import given
from hypothesis import strategies as st

from metering.intervals import HOUR, gaps, intersect, length, split, split_at, subtract, union

interval = st.tuples(st.integers(0, 10 * HOUR), st.integers(1, 3 * HOUR)).map(lambda p: (p[0], p[0] + p[1]))
intervals = st.lists(interval, max_size=12)


def brute(spans) -> int:
    return len({s for a, b in spans for s in range(a, b)})


@given(intervals, st.randoms())
def test_any_permutation_and_duplication_gives_the_same_card_seconds(spans, rnd):
    shuffled = spans + spans[: len(spans) // 2]
    rnd.shuffle(shuffled)
    assert length(shuffled) == length(spans) == brute(spans)


@given(intervals)
def test_claiming_in_any_order_adds_up_to_the_union(spans):
    counted, total = [], 0
    for span in spans:
        pieces = subtract(span, counted)
        total += sum(b - a for a, b in pieces)
        counted.extend(pieces)
    assert total == brute(spans)


@given(interval, st.sampled_from([60, 900, HOUR, 86400]))
def test_splitting_never_loses_or_adds_a_second(span, step):
    buckets = list(split(span, step))
    assert sum(s for _, s in buckets) == span[1] - span[0]
    assert all(b % step == 0 and 0 < s <= step for b, s in buckets)


@given(interval, intervals)
def test_subtract_and_intersect_partition_an_interval(span, covered):
    outside, inside = subtract(span, covered), intersect(span, covered)
    assert sum(b - a for a, b in outside) + sum(b - a for a, b in inside) == span[1] - span[0]


def test_union_merges_touching_intervals():
    assert union([(10, 20), (0, 10), (30, 40), (35, 36)]) == [(0, 20), (30, 40)]


def test_an_interval_across_an_hour_boundary_is_split_exactly():
    assert list(split((HOUR - 600, 2 * HOUR + 60))) == [(0, 600), (HOUR, HOUR), (2 * HOUR, 60)]


def test_split_at_period_boundaries():
    assert split_at((0, 100), [50, 200, -1]) == [(0, 50), (50, 100)]


@given(interval, intervals)
def test_gaps_of_a_sorted_disjoint_cover_equal_subtract(span, covered):
    assert gaps(span, union(covered)) == subtract(span, covered)
