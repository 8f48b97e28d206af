"""Service: the fleet utilisation report of a period (SPEC §15), from rollups only.

`report` answers one grouping (model, node, tenant or day) with a fleet total; `pack` answers all of
them and the node × day allocation rates, for the workbook and the chart. Periods are calendar
months in the operator's timezone (``tz``, default Asia/Shanghai). The cost of a report grows with
(nodes × models × hours of the period) rollup rows and GPUs in the registry, not with events.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import Connection

from billing.core.periods import Period, instant_to_json
from billing.core.utilization import figures, group, rate
from billing.services.catalog import list_prices
from kashi.errors import ValidationFailed
from metering import fleet_query
from metering.status import FleetSeconds

GROUPS = ("model", "node", "tenant", "day")
DEFAULT_TZ = "Asia/Shanghai"
_KEY_NAMES = {"model": ("gpu_model",), "node": ("node",), "day": ("day",), "tenant": ("tenant_id",)}


def _zone(tz: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed.of("tz", f"unknown IANA timezone {tz!r}") from None
    return tz


def _fleet_parts(
    conn: Connection, period: Period, tz: str, by: str, node: str | None, gpu_model: str | None
) -> dict[tuple, dict[str, FleetSeconds]]:
    start, end = period.start(tz), period.end(tz)
    rows = [
        *fleet_query.status_rows(conn, start, end, tz, by, node=node, gpu_model=gpu_model),
        *fleet_query.capacity_rows(conn, start, end, tz, by, node=node, gpu_model=gpu_model),
    ]
    return group(rows)


def _row(by: str, key: tuple, parts: Mapping[str, FleetSeconds], prices: Mapping[str, Decimal]) -> dict:
    names = _KEY_NAMES[by]
    row = {"group": " / ".join(str(k) for k in key) or "(none)", **dict(zip(names, key, strict=True))}
    if by == "node":
        row["node"] = key[0] or None
    row.update(figures(parts, prices).to_json(fleet=by != "tenant"))
    return row


def report(
    conn: Connection,
    period: Period,
    group_by: str = "model",
    *,
    tz: str = DEFAULT_TZ,
    node: str | None = None,
    gpu_model: str | None = None,
) -> dict:
    """The report of `period` grouped by `group_by`, with the fleet's total (filtered by node/model if given)."""
    if group_by not in GROUPS:
        raise ValidationFailed.of("group_by", f"must be one of {', '.join(GROUPS)}")
    tz = _zone(tz)
    return _report(
        conn,
        period,
        group_by,
        tz,
        node,
        gpu_model,
        list_prices(conn),
        _fleet_parts(conn, period, tz, "model", node, gpu_model),
    )


def _report(
    conn: Connection,
    period: Period,
    group_by: str,
    tz: str,
    node: str | None,
    gpu_model: str | None,
    prices: Mapping[str, Decimal],
    totals: dict[tuple, dict[str, FleetSeconds]],
) -> dict:
    if group_by == "tenant":
        start, end = period.start(tz), period.end(tz)
        grouped = group(fleet_query.tenant_rows(conn, start, end, gpu_model=gpu_model)) if node is None else {}
        keys = sorted(grouped, key=lambda k: (-sum(s.allocated for s in grouped[k].values()), k))
    elif group_by == "model":
        grouped, keys = totals, sorted(totals)
    else:
        grouped = _fleet_parts(conn, period, tz, group_by, node, gpu_model)
        keys = sorted(grouped)
        if group_by == "day":
            days = [(d,) for d, _, _ in fleet_query.local_days(period.start(tz), period.end(tz), tz)]
            keys = days
    every_model: dict[str, FleetSeconds] = {}
    for parts in totals.values():
        for model, seconds in parts.items():
            every_model[model] = every_model.get(model, FleetSeconds()) + seconds
    return {
        "period": str(period),
        "timezone": tz,
        "group_by": group_by,
        "period_start": instant_to_json(period.start(tz)),
        "period_end": instant_to_json(period.end(tz)),
        "unit": "card-hour",
        "currency": "CNY",
        "rows": [_row(group_by, key, grouped.get(key, {}), prices) for key in keys],
        "total": figures(every_model, prices).to_json(),
        "unpriced_models": sorted(m for m in every_model if m not in prices),
    }


def pack(conn: Connection, period: Period, *, tz: str = DEFAULT_TZ) -> dict:
    """Every grouping of `period`, and ``heat``: the allocation rate of each node on each local day
    (``{"nodes": [...], "days": [...], "rates": [[rate or None per day] per node]}``)."""
    tz = _zone(tz)
    prices = list_prices(conn)
    totals = _fleet_parts(conn, period, tz, "model", None, None)
    reports = {by: _report(conn, period, by, tz, None, None, prices, totals) for by in GROUPS}
    cells = _fleet_parts(conn, period, tz, "node_day", None, None)
    days = [d for d, _, _ in fleet_query.local_days(period.start(tz), period.end(tz), tz)]
    nodes = sorted({node for node, _ in cells})
    rates = []
    for node in nodes:
        line = []
        for day in days:
            total = sum(cells.get((node, day), {}).values(), FleetSeconds())
            value = rate(total.allocated, total.lit)
            line.append(None if value is None else min(value, Decimal(1)))
        rates.append(line)
    return {"reports": reports, "heat": {"nodes": nodes, "days": days, "rates": rates}}
