"""The utilisation report as a picture (SPEC §15), rendering only: matplotlib on the Agg backend.

Top: the headline figures a general manager repeats to investors (lit, allocation and busy rates,
card-hours sold, the value of idle cards). Middle: where each day's (or each model's) card-hours
went, stacked bottom to top — busy, allocated but not busy, lit but unsold, down, dark — so each
bar is the capacity. Bottom: a node × day heat-map of the allocation rate (the nodes with the
lowest rate first, at most `MAX_NODES`), where a red cell is a node selling little of what it lit.
"""

from __future__ import annotations

import io
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402

from billing.documents.utilization_tables import stack_parts  # noqa: E402

MAX_NODES = 30
COLOURS = {"busy": "#1f6f43", "allocated_idle": "#6fbf73", "lit_idle": "#f2c14e", "down": "#d1495b", "dark": "#c9ced6"}
LABELS = {
    "busy": "busy",
    "allocated_idle": "allocated, not busy",
    "lit_idle": "lit, unsold (idle)",
    "down": "down",
    "dark": "dark (silent)",
}
HEAT = LinearSegmentedColormap.from_list("allocation", ["#d1495b", "#f2c14e", "#1f6f43"])


def _pct(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def _hours(value: str | None) -> str:
    if value is None:
        return "—"
    number = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            return f"{number / limit:,.1f}{suffix}"
    return f"{number:,.0f}"


def _money(value: str | None) -> str:
    if value is None:
        return "no list price"
    number = float(value)
    for limit, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):  # matplotlib's own font has no 万 / 亿
        if abs(number) >= limit:
            return f"¥{number / limit:,.1f}{suffix}"
    return f"¥{number:,.0f}"


def _headline(ax, report: dict) -> None:
    total = report["total"]
    ax.axis("off")
    tiles = [
        ("lit rate", _pct(total["lit_rate"]), f"{_hours(total['lit'])} of {_hours(total['capacity'])} card-h"),
        ("allocation rate", _pct(total["allocation_rate"]), f"{_hours(total['allocated'])} card-h sold"),
        ("busy rate", _pct(total["busy_rate"]), f"{_hours(total['busy'])} card-h busy"),
        ("down", _hours(total["down"]) + " card-h", "lost to faults (XID, off the bus)"),
        ("idle value", _money(total["idle_value"]), "revenue the idle cards did not earn"),
    ]
    for i, (title, value, note) in enumerate(tiles):
        x = 0.1 + i * 0.2
        ax.text(x, 0.78, title.upper(), ha="center", va="center", fontsize=10, color="#555555")
        ax.text(x, 0.42, value, ha="center", va="center", fontsize=22, fontweight="bold", color="#1f3a5f")
        ax.text(x, 0.08, note, ha="center", va="center", fontsize=9, color="#555555")


def _stacked(ax, rows: list[dict], key: str, title: str) -> None:
    labels = [(row.get(key) or "(none)") for row in rows]
    if key == "day":
        labels = [label[8:] for label in labels]
    bottoms = [0.0] * len(rows)
    parts = [stack_parts(row) for row in rows]
    for name in ("busy", "allocated_idle", "lit_idle", "down", "dark"):
        values = [p[name] for p in parts]
        ax.bar(range(len(rows)), values, bottom=bottoms, color=COLOURS[name], label=LABELS[name], width=0.8)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for x, (row, top) in enumerate(zip(rows, bottoms, strict=True)):
        if row["allocation_rate"] is not None and top:
            ax.text(
                x,
                top,
                f"{Decimal(row['allocation_rate']) * 100:.0f}%",
                ha="center",
                va="bottom",
                fontsize=7 if key == "day" else 10,
                color="#1f3a5f",
            )  # the bar's allocation rate on top
    ax.set_xticks(range(len(rows)), labels, fontsize=8, rotation=0 if key == "day" else 30)
    ax.set_ylabel("card-hours")
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold", color="#1f3a5f")
    ax.legend(
        ncols=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 if key == "day" else -0.25), frameon=False
    )
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_formatter(lambda v, _: _hours(str(v)))


def _heat(ax, fig, heat: dict) -> None:
    nodes, days, rates = heat["nodes"], heat["days"], heat["rates"]
    if not nodes:
        ax.axis("off")
        ax.text(0.5, 0.5, "No node reported in this period", ha="center", va="center", color="#555555")
        return
    order = sorted(range(len(nodes)), key=lambda i: (_mean(rates[i]), nodes[i]))[:MAX_NODES]
    grid = [[float("nan") if r is None else float(r) for r in rates[i]] for i in order]
    image = ax.imshow(grid, aspect="auto", cmap=HEAT, vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(order)), [nodes[i] or "(none)" for i in order], fontsize=7)
    ax.set_xticks(range(len(days)), [d[8:] for d in days], fontsize=7)
    shown = f"the {len(order)} lowest of {len(nodes)} nodes" if len(nodes) > len(order) else f"{len(nodes)} nodes"
    ax.set_title(
        f"Allocation rate per node and day (sold ÷ lit; {shown}, grey: nothing lit)",
        loc="left",
        fontsize=12,
        fontweight="bold",
        color="#1f3a5f",
    )
    ax.set_facecolor("#e6e8eb")
    bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    bar.ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")


def _mean(values: list) -> float:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else 2.0


def render(pack: dict, by: str = "day") -> bytes:
    """The PNG of a `billing.services.utilization.pack`; `by` is ``day`` or ``model`` for the bars."""
    day = pack["reports"]["day"]
    bars = pack["reports"]["model" if by == "model" else "day"]
    nodes = min(len(pack["heat"]["nodes"]), MAX_NODES)
    fig = plt.figure(figsize=(14, 11 + nodes * 0.12), dpi=110, layout="constrained")
    grid = fig.add_gridspec(3, 1, height_ratios=[1.1, 3.2, 2.2 + nodes * 0.1])
    fig.suptitle(
        f"Fleet utilisation {day['period']}  ·  {day['timezone']}",
        fontsize=16,
        fontweight="bold",
        color="#1f3a5f",
        x=0.01,
        ha="left",
    )
    _headline(fig.add_subplot(grid[0]), day)
    span = "per model" if by == "model" else "day by day"
    title = f"Where the card-hours went, {span} (on top: the share of lit card-hours sold)"
    _stacked(fig.add_subplot(grid[1]), bars["rows"], "gpu_model" if by == "model" else "day", title)
    ax = fig.add_subplot(grid[2])
    _heat(ax, fig, pack["heat"])
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
