"""Server-drawn SVG charts: round axis steps, bars to scale, text escaped."""

from __future__ import annotations

import re
from decimal import Decimal

from kashi.console.charts import bar_chart, nice_step


def test_axis_steps_are_one_two_or_five_times_a_power_of_ten():
    assert nice_step(Decimal("21.5")) == Decimal(10)
    assert nice_step(Decimal("1440000")) == Decimal(500000)
    assert nice_step(Decimal("3")) == Decimal(1)
    assert nice_step(Decimal(0)) == Decimal(1)


def test_the_tallest_bar_stays_under_the_top_of_the_axis():
    svg = str(bar_chart([("01", Decimal("21.5")), ("02", Decimal("10"))], title="t", unit="card-hours"))
    ticks = [int(t.replace(",", "")) for t in re.findall(r'text-anchor="end"[^>]*>([\d,]+)</text>', svg)]
    assert ticks == [0, 10, 20, 30]
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[0] / heights[1] == 2.15


def test_labels_and_title_are_escaped():
    svg = str(bar_chart([("<b>", Decimal(1))], title="a & b", unit="u"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a &amp; b" in svg
