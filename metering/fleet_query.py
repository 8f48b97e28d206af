"""The fleet's rollups read for a period (SPEC §15): never a scan of the usage log.

Hours belong to a period (or a local day) by their start, in the operator's timezone; a zone whose
offset is not whole hours (Asia/Kolkata) puts an hour straddling midnight on the day it starts.
Capacity is clipped exactly, GPU by GPU, from the registry (first report to retirement).
Every query returns ``(group key, gpu_model, FleetSeconds)`` rows; `by` is one of
``model``, ``node``, ``day``, ``node_day``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from metering.status import FleetSeconds

Rows = list[tuple[tuple, str, FleetSeconds]]
"""(group key, gpu_model, seconds) rows."""
BY = ("model", "node", "day", "node_day")
_KEYS = {
    "model": ("gpu_model",),
    "node": ("node",),
    "day": ("day",),
    "node_day": ("node", "day"),
}


def local_days(start: datetime, end: datetime, tz: str) -> list[tuple[str, int, int]]:
    """Each local day of ``[start, end)`` as (YYYY-MM-DD, start epoch, end epoch): 23 or 25 hours on DST days."""
    zone = ZoneInfo(tz)
    day = start.astimezone(zone).date()
    days = []
    while True:
        lo = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=1)
        hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        if lo >= end:
            break
        days.append((day.isoformat(), int(max(lo, start).timestamp()), int(min(hi, end).timestamp())))
        day = nxt
    return days


def _filters(node: str | None, gpu_model: str | None, alias: str) -> str:
    where = ""
    if node is not None:
        where += f" AND {alias}.node = :node"
    if gpu_model is not None:
        where += f" AND {alias}.gpu_model = :model"
    return where


def status_rows(
    conn: Connection,
    start: datetime,
    end: datetime,
    tz: str,
    by: str,
    *,
    node: str | None = None,
    gpu_model: str | None = None,
) -> Rows:
    """Reported, down, allocated and busy seconds from the hourly rollups — ``fleet_model_hourly``
    (16 rows per model and hour) unless nodes are asked for, else ``fleet_hourly`` (one per node, model
    and hour): one range scan of the period's hours, each put on its local day by `width_bucket`."""
    days = local_days(start, end, tz)
    keys = {"model": "", "node": "f.node,", "day": "d,", "node_day": "f.node, d,"}[by]
    table = "fleet_model_hourly" if by in ("model", "day") and node is None else "fleet_hourly"
    rows = conn.execute(
        text(f"""SELECT {keys} f.gpu_model, sum(f.reported_s)::bigint, sum(f.down_s)::bigint,
                        sum(f.allocated_s)::bigint,
                        sum(CASE WHEN f.busy_s > 0 THEN f.busy_s ELSE least(f.status_busy_s, f.allocated_s) END)
                 FROM (SELECT *, width_bucket(hour, CAST(:lo AS bigint[])) AS d FROM {table}
                       WHERE hour >= :s AND hour < :e) AS f
                 WHERE TRUE {_filters(node, gpu_model, "f")}
                 GROUP BY {keys} f.gpu_model"""),
        _params(start, end, tz, node, gpu_model),
    ).all()
    width = len(_KEYS[by]) if by != "model" else 0
    found = []
    for row in rows:
        key = tuple(days[k - 1][0] if by.endswith("day") and i == width - 1 else k for i, k in enumerate(row[:width]))
        model = row[width]
        reported, down, allocated, busy = row[width + 1 :]
        found.append((key or (model,), model, FleetSeconds(0, reported, down, allocated, Decimal(busy or 0))))
    return found


def capacity_rows(
    conn: Connection,
    start: datetime,
    end: datetime,
    tz: str,
    by: str,
    *,
    node: str | None = None,
    gpu_model: str | None = None,
) -> Rows:
    """Capacity seconds of the registry's GPUs in the fleet during ``[start, end)``, clipped to each
    local day, grouped by their latest node and model. One read of the registry; a GPU in the fleet
    for whole days counts through a running sum over days, so the cost is GPUs + days, not their product."""
    days = local_days(start, end, tz)
    lo = [d[1] for d in days]
    rows = conn.execute(
        text(f"""SELECT g.node, g.gpu_model, greatest(g.first_seen_s, :s) AS a,
                        least(coalesce(floor(extract(epoch FROM g.retired_at))::bigint, :e), :e) AS b
                 FROM fleet_gpus g WHERE g.first_seen_s < :e
                   AND (g.retired_at IS NULL OR g.retired_at > to_timestamp(:s)) {_filters(node, gpu_model, "g")}"""),
        _params(start, end, tz, node, gpu_model),
    ).all()
    totals: dict[tuple, int] = defaultdict(int)
    if by in ("model", "node"):
        for n, model, a, b in rows:
            if b > a:
                totals[((model,) if by == "model" else (n,), model)] += b - a
        return [(key, model, FleetSeconds(capacity=seconds)) for (key, model), seconds in totals.items()]
    # per day: whole days through a difference array per (group, model), the partial first and last day apart
    whole: dict[tuple, list[int]] = defaultdict(lambda: [0] * (len(days) + 1))
    for n, model, a, b in rows:
        if b <= a:
            continue
        first, last = bisect_right(lo, a) - 1, bisect_right(lo, b - 1) - 1
        group = (n,) if by == "node_day" else ()
        if first == last:
            totals[(*group, first, model)] += b - a
            continue
        totals[(*group, first, model)] += days[first][2] - a
        totals[(*group, last, model)] += b - days[last][1]
        marks = whole[(*group, model)]
        marks[first + 1] += 1
        marks[last] -= 1
    for (*group, model), marks in whole.items():
        running = 0
        for index in range(len(days)):
            running += marks[index]
            if running:
                totals[(*group, index, model)] += running * (days[index][2] - days[index][1])
    return [
        ((*group, days[index][0]), model, FleetSeconds(capacity=seconds))
        for (*group, index, model), seconds in totals.items()
    ]


def tenant_rows(conn: Connection, start: datetime, end: datetime, *, gpu_model: str | None = None) -> Rows:
    """Allocated and busy seconds per tenant and model, from ``tenant_fleet_hourly``."""
    rows = conn.execute(
        text(f"""SELECT t.tenant_id, t.gpu_model, sum(t.allocated_s)::bigint, sum(t.busy_s)
                 FROM tenant_fleet_hourly t
                 WHERE t.hour >= :s AND t.hour < :e {_filters(None, gpu_model, "t")}
                 GROUP BY 1, 2"""),
        {"s": int(start.timestamp()), "e": int(end.timestamp()), "model": gpu_model},
    ).all()
    return [
        ((tenant,), model, FleetSeconds(allocated=allocated, busy=Decimal(busy or 0)))
        for tenant, model, allocated, busy in rows
    ]


def _params(start: datetime, end: datetime, tz: str, node: str | None, gpu_model: str | None) -> dict:
    days = local_days(start, end, tz)
    return {
        "days": [d for d, _, _ in days],
        "lo": [lo for _, lo, _ in days],
        "hi": [hi for _, _, hi in days],
        "s": int(start.timestamp()),
        "e": int(end.timestamp()),
        "node": node,
        "model": gpu_model,
    }


def lit_rows(conn: Connection, tenant_id: str, start: datetime, end: datetime) -> list[tuple[str, str, int, int]]:
    """(contract_id or "", gpu_model, hour, lit allocated seconds) of a tenant, hours starting in ``[start, end)``."""
    rows = conn.execute(
        text("""SELECT contract_id, gpu_model, hour, lit_allocated_s FROM tenant_fleet_hourly
                WHERE tenant_id = :t AND hour >= :s AND hour < :e AND lit_allocated_s > 0
                ORDER BY contract_id, gpu_model, hour"""),
        {"t": tenant_id, "s": int(start.timestamp()), "e": int(end.timestamp())},
    ).all()
    return [tuple(r) for r in rows]


def has_late_status(conn: Connection, tenant_id: str, start: datetime, end: datetime, after: int) -> bool:
    """Whether an event after log position `after` changed the tenant's lit allocated seconds in ``[start, end)``."""
    return bool(
        conn.execute(
            text("""SELECT EXISTS (SELECT 1 FROM tenant_fleet_hourly WHERE tenant_id = :t AND hour >= :s AND hour < :e
                               AND last_seq > :a)"""),
            {"t": tenant_id, "s": int(start.timestamp()), "e": int(end.timestamp()), "a": after},
        ).scalar()
    )
