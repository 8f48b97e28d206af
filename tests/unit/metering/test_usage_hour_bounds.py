"""`metering.usage.hour_bounds`: integer bounds on the hour column select exactly the hours the
instant bounds select (so the query can use the (tenant_id, hour) index)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from metering.usage import hour_bounds

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def test_whole_seconds_are_kept_and_fractions_round_up():
    start = datetime(2026, 10, 1, tzinfo=UTC)
    assert hour_bounds(start, start + timedelta(hours=1)) == {"s": 1_790_812_800, "e": 1_790_816_400}
    assert hour_bounds(start + timedelta(microseconds=1), start + timedelta(seconds=1.5)) == {
        "s": 1_790_812_801,
        "e": 1_790_812_802,
    }


@given(instants, instants, st.integers(min_value=946_684_800, max_value=4_102_444_800))
def test_an_hour_is_inside_the_integer_bounds_exactly_when_inside_the_instants(start, end, hour):
    bounds = hour_bounds(start, end)
    assert (bounds["s"] <= hour < bounds["e"]) == (start.timestamp() <= hour < end.timestamp())
