"""Charts drawn on the server as SVG: a bar per value, its axis in round steps. No script, no
raster; the numbers behind each chart are printed in a table next to it."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from html import escape

from markupsafe import Markup

from kashi.console.format import grouped

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 26, 34


def nice_step(top: Decimal, ticks: int = 4) -> Decimal:
    """A round axis step (1, 2 or 5 × 10ⁿ) so that ``ticks`` steps reach ``top``."""
    if top <= 0:
        return Decimal(1)
    raw = top / ticks
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("0.1")
    while magnitude > raw:
        magnitude /= 10
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def _axis(top: Decimal, title: str) -> tuple[Decimal, list[str]]:
    """The top of a value axis from zero reaching ``top`` in round steps, and the SVG opening with
    its title and gridlines."""
    step = nice_step(top)
    axis_top = step * max(1, (top / step).to_integral_value(rounding=ROUND_CEILING)) if top > 0 else step * 4
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>'
    ]
    tick = Decimal(0)
    while tick <= axis_top:
        y = TOP + plot_h - float(tick / axis_top) * plot_h
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dbe3"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#4f5b6a">'
            f"{escape(grouped(tick, 0))}</text>"
        )
        tick += step
    return axis_top, parts


def _label(parts: list[str], x: float, text: str) -> None:
    parts.append(
        f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
        f'font-size="11" fill="#4f5b6a">{escape(text)}</text>'
    )


def bar_chart(points: list[tuple[str, Decimal]], *, title: str, unit: str) -> Markup:
    """An SVG bar chart of ``(label, value)`` points (labels under every few bars), titled for
    screen readers; values are drawn to scale from zero."""
    top = max((value for _, value in points), default=Decimal(0))
    axis_top, parts = _axis(top, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(points))
    every = max(1, round(len(points) / 10))
    for i, (label, value) in enumerate(points):
        h = float(value / axis_top) * plot_h if axis_top else 0
        x = LEFT + i * slot + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#1d5fa8"><title>{escape(label)}: {escape(grouped(value, 1))} {escape(unit)}</title>'
            "</rect>"
        )
        if i % every == 0:
            _label(parts, x + slot * 0.35, label)
    parts.append(f'<text x="4" y="12" font-size="11" fill="#4f5b6a">{escape(unit)}</text></svg>')
    return Markup("".join(parts))


def stacked_bar_chart(
    points: list[tuple[str, list[Decimal]]], series: list[tuple[str, str]], *, title: str, unit: str
) -> Markup:
    """An SVG chart of stacked bars: each point's values, one per ``(name, colour)`` of ``series``,
    drawn from zero upwards in that order, with a legend naming each series; a negative or missing
    value draws nothing. Each segment's tooltip names its label, series and value."""
    top = max(
        (sum((v for v in values if v is not None and v > 0), Decimal(0)) for _, values in points), default=Decimal(0)
    )
    axis_top, parts = _axis(top, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(points))
    every = max(1, round(len(points) / 10))
    bar = min(slot * 0.7, 64.0)  # a few rows are not drawn as slabs
    for i, (label, values) in enumerate(points):
        x = LEFT + i * slot + (slot - bar) / 2
        base = TOP + plot_h
        for (name, colour), value in zip(series, values, strict=False):
            if value is None or value <= 0:
                continue
            h = float(value / axis_top) * plot_h
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(grouped(value, 1))} {escape(unit)}</title></rect>"
            )
        if i % every == 0:
            _label(parts, x + bar / 2, label)
    legend_x = LEFT + 50.0  # after the unit, at the left: visible when a phone scrolls the chart
    for name, colour in series:
        parts.append(
            f'<rect x="{legend_x:.1f}" y="4" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14:.1f}" y="13" font-size="11" fill="#4f5b6a">{escape(name)}</text>'
        )
        legend_x += 26 + 7.5 * len(name)
    parts.append(f'<text x="4" y="12" font-size="11" fill="#4f5b6a">{escape(unit)}</text></svg>')
    return Markup("".join(parts))
