"""View helpers of the receivables, fleet, breach-risk and suppliers pages: rates as percentages,
aging-bucket headings, what is overdue, the bars of a utilisation report, the top contracts at risk."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kashi.console.charts import stacked_bar_chart
from kashi.console.format import bucket_label, overdue_of, rate
from kashi.console.pages.fleet import FLEET_SERIES, TENANT_SERIES, chart_points, idle_hours
from kashi.console.pages.risk import top_at_risk
from kashi.console.pages.suppliers import supplied_contract

BUCKETS = ["current", "1_30", "31_60", "61_90", "over_90"]


def test_rates_print_as_percentages_and_a_missing_rate_as_a_dash():
    assert rate("0.9879") == "98.8%"
    assert rate("0.30") == "30.0%"
    assert rate("1") == "100.0%"
    assert rate("0.00005") == "0.0%"
    assert rate("0.12345", places=2) == "12.35%"  # half up
    assert rate(None) == "—" and rate("") == "—" and rate("n/a") == "n/a"


def test_bucket_headings_name_days_past_due():
    assert [bucket_label(b) for b in BUCKETS] == [
        "Not yet due",
        "1–30 days",
        "31–60 days",
        "61–90 days",
        "Over 90 days",
    ]
    assert bucket_label("over_120") == "over 120"


def test_overdue_is_every_bucket_but_current():
    row = {"current": "319060.00", "1_30": "0.00", "31_60": "318000.00", "61_90": "0.10", "over_90": "5.00"}
    assert overdue_of(row, BUCKETS) == Decimal("318005.10")


@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=2), min_size=5, max_size=5))
def test_overdue_plus_current_is_the_total_due(amounts):
    row = dict(zip(BUCKETS, (str(a) for a in amounts), strict=True))
    assert overdue_of(row, BUCKETS) + Decimal(row["current"]) == sum(amounts)


def fleet_row(group, **figures):
    base = {"capacity": "0", "reported": "0", "down": "0", "lit": "0", "allocated": "0", "busy": "0", "dark": "0"}
    return {"group": group, **base, **figures}


def test_idle_hours_are_lit_minus_allocated_never_below_zero_and_none_for_a_tenant():
    assert idle_hours(fleet_row("n1", lit="720.000000", allocated="131.500000")) == Decimal("588.5")
    assert idle_hours(fleet_row("n1", lit="10", allocated="12")) == 0
    assert idle_hours({"lit": None, "allocated": "5"}) is None


def test_fleet_bars_split_capacity_into_allocated_idle_down_and_dark():
    report = {
        "group_by": "node",
        "rows": [fleet_row("n1", capacity="2880", lit="2400", down="48", dark="432", allocated="131")],
    }
    points, series = chart_points(report)
    assert series == FLEET_SERIES
    ((label, values),) = points
    assert label == "n1" and values == [Decimal(131), Decimal(2269), Decimal(48), Decimal(432)]
    assert sum(values) == Decimal(2880)  # the bar is the capacity


def test_day_bars_are_labelled_by_month_and_day_and_tenant_bars_split_busy():
    days = chart_points({"group_by": "day", "rows": [fleet_row("2026-11-05", allocated="3")]})[0]
    assert days[0][0] == "11-05"
    tenant = {"group": "t-a", "allocated": "10.5", "busy": "6.3", "lit": None, "down": None, "dark": None}
    points, series = chart_points({"group_by": "tenant", "rows": [tenant]})
    assert series == TENANT_SERIES and points == [("t-a", [Decimal("6.3"), Decimal("4.2")])]


def test_stacked_bars_reach_their_sum_and_name_each_series():
    svg = str(
        stacked_bar_chart(
            [("a", [Decimal(10), Decimal(20)]), ("b", [Decimal(5), None])],
            [("allocated", "#111111"), ("idle", "#222222")],
            title="Card-hours <per node>",
            unit="card-hours",
        )
    )
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)" fill="#', svg)]
    assert heights[1] / heights[0] == 2 and heights[0] / heights[2] == 2  # to scale, None draws nothing
    assert "<title>a · idle: 20.0 card-hours</title>" in svg
    assert ">allocated</text>" in svg and ">idle</text>" in svg  # the legend
    assert "&lt;per node&gt;" in svg


def test_a_chart_of_nothing_still_draws_its_axis():
    svg = str(stacked_bar_chart([], FLEET_SERIES, title="t", unit="card-hours"))
    assert svg.startswith("<svg") and "<rect x" in svg  # the legend's swatches only


def test_top_at_risk_keeps_the_reports_order_and_only_those_at_risk():
    items = [
        {"contract_id": "c1", "at_risk": True},
        {"contract_id": "c2", "at_risk": False},
        {"contract_id": "c3", "at_risk": True},
        {"contract_id": "c4", "at_risk": True},
    ]
    assert [r["contract_id"] for r in top_at_risk({"items": items}, 2)] == ["c1", "c3"]
    assert top_at_risk({"items": []}) == []


def test_a_supplied_item_reference_names_its_contract():
    assert supplied_contract("c-2ff6e7-a/rtx") == "c-2ff6e7-a"
    assert supplied_contract("ns/c-1/i-1") == "ns/c-1"
