from datetime import UTC, datetime
from fractions import Fraction

import pytest
from billing_kit import BERLIN, NEW_YORK, SHANGHAI, at

from billing.core.periods import (
    Period,
    active_fraction,
    add_days,
    add_months,
    months_between,
    period_of,
    periods_overlapping,
    seconds_in,
)
from kashi.errors import ValidationFailed

DAY = 86_400


def test_period_parses_and_prints_yyyy_mm():
    period = Period.parse("2026-10")
    assert period == Period(2026, 10)
    assert str(period) == "2026-10"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-10-01", 202610, None])
def test_period_parse_rejects_what_is_not_a_month(text):
    with pytest.raises(ValidationFailed) as caught:
        Period.parse(text)
    assert caught.value.details == [{"field": "period", "reason": caught.value.details[0]["reason"]}]


def test_next_and_prev_cross_the_year():
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2026, 1).prev() == Period(2025, 12)
    assert months_between(Period(2026, 1), Period(2028, 12)) == 35


def test_bounds_of_a_month_in_shanghai_are_utc_instants():
    assert Period(2026, 10).start(SHANGHAI) == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert Period(2026, 10).end("Asia/Shanghai") == datetime(2026, 10, 31, 16, tzinfo=UTC)


def test_period_of_an_instant_depends_on_the_timezone():
    instant = datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert period_of(instant, SHANGHAI) == Period(2026, 10)
    assert period_of(instant, "UTC") == Period(2026, 9)


@pytest.mark.parametrize(
    ("year", "month", "days"), [(2026, 2, 28), (2028, 2, 29), (2026, 4, 30), (2026, 1, 31), (2026, 12, 31)]
)
def test_seconds_in_a_shanghai_month_follow_its_days(year, month, days):
    assert seconds_in(Period(year, month), SHANGHAI) == days * DAY


def test_seconds_in_dst_months_lose_or_gain_an_hour():
    assert seconds_in(Period(2026, 3), NEW_YORK) == 31 * DAY - 3600
    assert seconds_in(Period(2026, 11), NEW_YORK) == 30 * DAY + 3600
    assert seconds_in(Period(2026, 3), BERLIN) == 31 * DAY - 3600
    assert seconds_in(Period(2026, 10), BERLIN) == 31 * DAY + 3600


def test_add_months_clamps_a_day_past_the_month_end():
    assert add_months(at("2026-01-31"), 1, SHANGHAI) == at("2026-02-28")
    assert add_months(at("2028-01-31"), 1, SHANGHAI) == at("2028-02-29")
    assert add_months(at("2026-03-31"), -1, SHANGHAI) == at("2026-02-28")
    assert add_months(at("2026-01-31"), 12, SHANGHAI) == at("2027-01-31")
    assert add_months(at("2026-01-31T10:30"), 3, SHANGHAI) == at("2026-04-30T10:30")


def test_add_months_keeps_the_local_wall_time_across_dst():
    assert add_months(at("2026-02-08T09:00", NEW_YORK), 1, NEW_YORK) == datetime(2026, 3, 8, 13, tzinfo=UTC)
    assert add_months(at("2026-10-15T09:00", BERLIN), 1, BERLIN) == datetime(2026, 11, 15, 8, tzinfo=UTC)


def test_add_months_into_a_dst_gap_moves_forward_by_the_gap():
    # 02:30 on 2026-03-08 does not exist in New York; it resolves to 03:30 EDT.
    assert add_months(at("2026-02-08T02:30", NEW_YORK), 1, NEW_YORK) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_add_days_counts_local_calendar_days():
    assert add_days(at("2026-03-01T12:00", NEW_YORK), 30, NEW_YORK) == at("2026-03-31T12:00", NEW_YORK)


def test_add_months_refuses_a_naive_datetime():
    with pytest.raises(ValidationFailed, match="UTC offset"):
        add_months(datetime(2026, 1, 1), 1, SHANGHAI)


def test_active_fraction_of_whole_half_and_no_month():
    october = Period(2026, 10)
    assert active_fraction(at("2026-01-01"), None, october, SHANGHAI) == 1
    assert active_fraction(at("2026-10-17"), at("2027-01-01"), october, SHANGHAI) == Fraction(15, 31)
    assert active_fraction(at("2026-10-01"), at("2026-10-16T12:00"), october, SHANGHAI) == Fraction(1, 2)
    assert active_fraction(at("2026-11-01"), None, october, SHANGHAI) == 0
    assert active_fraction(at("2026-01-01"), at("2026-10-01"), october, SHANGHAI) == 0


def test_active_fraction_in_a_dst_month_counts_real_seconds():
    march = Period(2026, 3)
    # From the 16th on, New York is on EDT throughout: 16 full days of a month one hour short.
    assert active_fraction(at("2026-03-16", NEW_YORK), None, march, NEW_YORK) == Fraction(16 * DAY, 31 * DAY - 3600)
    # Berlin's October has 25 hours on the 25th: the first half of the month is 15 days of 31 days + 1 h.
    october = Period(2026, 10)
    assert active_fraction(at("2026-10-01", BERLIN), at("2026-10-16", BERLIN), october, BERLIN) == Fraction(
        15 * DAY, 31 * DAY + 3600
    )


def test_periods_overlapping_a_span():
    assert periods_overlapping(at("2026-10-15"), at("2026-12-01"), SHANGHAI) == [Period(2026, 10), Period(2026, 11)]
    assert periods_overlapping(at("2026-10-15"), at("2026-10-15"), SHANGHAI) == []
