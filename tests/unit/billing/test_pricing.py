from decimal import Decimal

import pytest
from billing_kit import (
    BERLIN,
    NEW_YORK,
    SHANGHAI,
    amend,
    amounts,
    at,
    capacity,
    card_hours,
    machines,
    payload,
    sign,
    terminate,
    tokens,
)

from billing.core.periods import Period
from billing.core.pricing import Usage, charges_for_period

SEPTEMBER, OCTOBER = Period(2026, 9), Period(2026, 10)
HOUR = 3600


def test_charges_for_the_spec_contract_starting_on_the_fifteenth():
    state = sign(payload(machines(), capacity(), card_hours(), tokens(), start="2026-09-15T00:00:00+08:00"))
    usage = Usage({("c-1", "i-3"): 500 * HOUR}, {("c-1", "i-4", "input"): 1_200_000})
    lines = charges_for_period(state, SEPTEMBER, SHANGHAI, usage)
    # 16 of September's 30 days: f = 16/30.
    assert amounts(lines) == [
        ("machine_month", Decimal("160000.00")),  # 60 × 5,000 × 16/30
        ("p_year", Decimal("533333.33")),  # 120,000 × 100 / 12 × 16/30
        ("gpu_hour", Decimal("6250.00")),  # 500 h × 12.50
        ("gpu_hour_shortfall", Decimal("416.67")),  # (1,000 × 16/30 − 500) h × 12.50
        ("token", Decimal("2.40")),  # 1.2 M input tokens × 2.00
    ]
    assert [line.tax for line in lines] == [
        Decimal("9600.00"),
        Decimal("32000.00"),
        Decimal("375.00"),
        Decimal("25.00"),
        Decimal("0.14"),
    ]
    assert all(line.period_start == at("2026-09-15") and line.period_end == at("2026-10-01") for line in lines)


def test_a_line_reads_as_the_spec_line_json():
    state = sign(payload(start="2026-09-15T00:00:00+08:00"))
    (line,) = charges_for_period(state, SEPTEMBER, SHANGHAI)
    assert line.to_json() == {
        "kind": "machine_month",
        "contract_id": "c-1",
        "item_id": "i-1",
        "description": "60 × 8×RTX-4090 machines, 2026-09-15 – 2026-09-30",
        "quantity": "32",
        "unit": "machine-month",
        "unit_price": "5000.00",
        "amount": "160000.00",
        "tax_rate": "0.06",
        "tax": "9600.00",
        "period_start": "2026-09-14T16:00:00Z",
        "period_end": "2026-09-30T16:00:00Z",
    }


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        ("2026-02-15", Period(2026, 2), Decimal("36000.00")),  # 14 of 28 days
        ("2028-02-15", Period(2028, 2), Decimal("37241.38")),  # 15 of 29 days
        ("2026-04-15", Period(2026, 4), Decimal("38400.00")),  # 16 of 30 days
        ("2026-10-15", Period(2026, 10), Decimal("39483.87")),  # 17 of 31 days
    ],
)
def test_a_start_on_the_fifteenth_in_months_of_28_29_30_and_31_days(start, period, expected):
    state = sign(payload(machines(10, "7200.00"), start=f"{start}T00:00:00+08:00", closed_months=12))
    assert amounts(charges_for_period(state, period, SHANGHAI)) == [("machine_month", expected)]


def test_fees_end_mid_month_at_a_termination_in_shanghai():
    state = terminate(sign(payload()), at("2026-10-17"))
    lines = charges_for_period(state, OCTOBER, SHANGHAI)
    assert amounts(lines) == [("machine_month", Decimal("154838.71"))]  # 300,000 × 16/31
    assert lines[0].period_end == at("2026-10-17")
    assert charges_for_period(state, Period(2026, 11), SHANGHAI) == []


def test_a_contract_starting_on_the_31st_runs_to_the_clamped_end():
    state = sign(payload(start="2026-01-31T00:00:00+08:00", closed_months=1))
    assert amounts(charges_for_period(state, Period(2026, 1), SHANGHAI)) == [("machine_month", Decimal("9677.42"))]
    # Ends 2026-02-28 00:00: 27 of February's 28 days.
    assert amounts(charges_for_period(state, Period(2026, 2), SHANGHAI)) == [("machine_month", Decimal("289285.71"))]
    assert charges_for_period(state, Period(2026, 3), SHANGHAI) == []


def test_fees_stop_at_term_end():
    state = sign(payload(closed_months=12))
    assert amounts(charges_for_period(state, Period(2026, 12), SHANGHAI)) == [("machine_month", Decimal("300000.00"))]
    assert charges_for_period(state, Period(2027, 1), SHANGHAI) == []
    assert charges_for_period(state, Period(2025, 12), SHANGHAI) == []


def test_an_amendment_mid_month_prorates_each_quantity_piecewise():
    state = amend(sign(payload()), "i-1", at("2026-10-16"), machines=40)
    lines = charges_for_period(state, OCTOBER, SHANGHAI)
    assert amounts(lines) == [
        ("machine_month", Decimal("145161.29")),  # 60 × 5,000 × 15/31
        ("machine_month", Decimal("103225.81")),  # 40 × 5,000 × 16/31
    ]
    assert [line.description for line in lines] == [
        "60 × 8×RTX-4090 machines, 2026-10-01 – 2026-10-15",
        "40 × 8×RTX-4090 machines, 2026-10-16 – 2026-10-31",
    ]


def test_a_full_month_of_p_year_is_a_twelfth_of_the_annual_price():
    state = sign(payload(capacity()))
    assert amounts(charges_for_period(state, OCTOBER, SHANGHAI)) == [("p_year", Decimal("1000000.00"))]


def test_p_year_running_total_makes_an_odd_annual_price_to_the_cent():
    state = sign(payload(capacity("1", "100000.00"), closed_months=12))
    months = [charges_for_period(state, Period(2026, month), SHANGHAI)[0].amount for month in range(1, 13)]
    # 8,333.333… a month: round(k × 8,333.333…) − round((k−1) × 8,333.333…) for k = 1 … 12
    assert months == [Decimal("8333.33"), Decimal("8333.34"), Decimal("8333.33")] * 4
    assert sum(months) == Decimal("100000.00")


def test_p_year_of_5_92_p_at_a_million_makes_the_annual_price_not_5_919_999_96():
    state = sign(payload(capacity("5.92", "1000000.00"), closed_months=12))
    months = [charges_for_period(state, Period(2026, month), SHANGHAI)[0].amount for month in range(1, 13)]
    assert sum(months) == Decimal("5920000.00")  # month by month rounding gave 12 × 493,333.33 = 5,919,999.96
    assert all(abs(m - Decimal("5920000") / 12) < Decimal("0.01") for m in months)


def test_p_year_contract_year_starting_mid_month_cuts_the_line_there():
    state = sign(payload(capacity("1", "100000.00"), start="2026-01-15T00:00:00+08:00", closed_months=24))
    lines = charges_for_period(state, Period(2027, 1), SHANGHAI)
    assert [(line.period_start, line.period_end) for line in lines] == [
        (at("2027-01-01"), at("2027-01-15")),
        (at("2027-01-15"), at("2027-02-01")),
    ]
    first_year = [line.amount for m in range(1, 13) for line in charges_for_period(state, Period(2026, m), SHANGHAI)]
    assert sum(first_year) + lines[0].amount == Decimal("100000.00")


def test_p_year_amended_mid_month_is_prorated_piecewise():
    state = amend(sign(payload(capacity())), "i-2", at("2026-10-16"), capacity_p="50")
    # 1,000,000 × 15/31 = 483,870.967…; 500,000 × 16/31 = 258,064.516…; January–September make 9,000,000
    # exactly, so by the running total: round(9,483,870.967…) − 9,000,000 and round(9,741,935.483…) − that.
    assert amounts(charges_for_period(state, OCTOBER, SHANGHAI)) == [
        ("p_year", Decimal("483870.97")),
        ("p_year", Decimal("258064.51")),
    ]


def test_gpu_hours_without_commitment_charge_usage_only():
    state = sign(payload(card_hours(committed=None)))
    usage = Usage({("c-1", "i-3"): 1000 * HOUR + 1800})
    lines = charges_for_period(state, OCTOBER, SHANGHAI, usage)
    assert amounts(lines) == [("gpu_hour", Decimal("12506.25"))]
    assert (lines[0].quantity, lines[0].unit) == (Decimal("1000.50"), "card-hour")
    assert charges_for_period(state, OCTOBER, SHANGHAI) == []


def test_a_commitment_unused_is_charged_in_full_and_one_used_up_adds_nothing():
    state = sign(payload(card_hours()))
    assert amounts(charges_for_period(state, OCTOBER, SHANGHAI)) == [("gpu_hour_shortfall", Decimal("12500.00"))]
    usage = Usage({("c-1", "i-3"): 1200 * HOUR})
    assert amounts(charges_for_period(state, OCTOBER, SHANGHAI, usage)) == [("gpu_hour", Decimal("15000.00"))]


def test_tokens_are_charged_one_line_per_item_summing_the_kinds_rounded_once():
    state = sign(payload(tokens()))
    usage = Usage(
        tokens={
            ("c-1", "i-4", "input"): 1_200_000,
            ("c-1", "i-4", "output"): 300_000,
            ("c-1", "i-4", "cached"): 1_000_000,
        }
    )
    (line,) = charges_for_period(state, OCTOBER, SHANGHAI, usage)
    # 1.2 × 2.00 + 0.3 × 8.00 + 1 × 0.50 = 5.30 for 2.5 M tokens
    assert (line.kind, line.quantity, line.unit, line.unit_price, line.amount) == (
        "token",
        Decimal("2.5"),
        "1M tokens",
        Decimal("2.12"),
        Decimal("5.30"),
    )
    assert line.description.startswith(
        "qwen2.5-72b tokens (1,200,000 input × 2.00, 300,000 output × 8.00, 1,000,000 cached input × 0.50 per 1M)"
    )


def test_small_token_counts_round_once_over_the_sum_of_kinds():
    state = sign(payload(tokens()))
    usage = Usage(tokens={("c-1", "i-4", "input"): 1_200, ("c-1", "i-4", "output"): 1_000})
    # 0.0024 + 0.008 = 0.0104 → 0.01 (per-kind lines would each round to 0.00 and 0.01)
    assert amounts(charges_for_period(state, OCTOBER, SHANGHAI, usage)) == [("token", Decimal("0.01"))]


def test_a_month_fraction_in_new_york_counts_the_short_dst_month():
    state = sign(payload(machines(1, "3100.00"), start="2026-03-16T00:00:00-04:00"), NEW_YORK)
    # 16 × 86,400 s of a March of 31 × 86,400 − 3,600 s.
    assert amounts(charges_for_period(state, Period(2026, 3), NEW_YORK)) == [("machine_month", Decimal("1602.15"))]


def test_a_month_fraction_in_berlin_counts_the_long_dst_day():
    state = sign(payload(machines(1, "3100.00"), start="2026-10-16T00:00:00+02:00"), BERLIN)
    # 16 days and the extra hour of 25 October, of a 31-day October one hour long.
    assert amounts(charges_for_period(state, Period(2026, 10), BERLIN)) == [("machine_month", Decimal("1602.01"))]
