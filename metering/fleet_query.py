"""The fleet's rollups read for a period (SPEC §15): never a scan of the usage log.

Hours belong to a period (or a local day) by their start, in the operator's timezone; a zone whose
offset is not whole hours (Asia/Kolkata) puts an hour straddling midnight on the day it starts.
Capacity is clipped exactly, GPU by GPU, from the registry (first report to retirement).
Every query returns ``(group key, gpu_model, FleetSeconds)`` rows; `by` is one of
``model``, ``node``, ``day``, ``node_day``.
"""

from __future__ import annotations

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


def status_rows(conn: Connection, start: datetime, end: datetime, tz: str, by: str, *,
                node: str | None = None, gpu_model: str | None = None) -> Rows:  # fmt: skip
    """Reported, down, allocated and busy seconds from ``fleet_hourly`` (node, model, hour)."""
    keys = {"model": "", "node": "f.node,", "day": "d.day,", "node_day": "f.node, d.day,"}[by]
    rows = conn.execute(
        text(f"""SELECT {keys} f.gpu_model, sum(f.reported_s)::bigint, sum(f.down_s)::bigint,
                        sum(f.allocated_s)::bigint, sum(f.busy_s)
                 FROM fleet_hourly f
                 JOIN unnest(CAST(:days AS text[]), CAST(:lo AS bigint[]), CAST(:hi AS bigint[])) AS d(day, lo, hi)
                   ON f.hour >= d.lo AND f.hour < d.hi
                 WHERE f.hour >= :s AND f.hour < :e {_filters(node, gpu_model, "f")}
                 GROUP BY {keys} f.gpu_model"""),
        _params(start, end, tz, node, gpu_model),
    ).all()
    width = len(_KEYS[by]) if by != "model" else 0
    found = []
    for row in rows:
        key, model = tuple(row[:width]), row[width]
        reported, down, allocated, busy = row[width + 1:]
        found.append((key or (model,), model, FleetSeconds(0, reported, down, allocated, Decimal(busy or 0))))
    return found


def capacity_rows(conn: Connection, start: datetime, end: datetime, tz: str, by: str, *,
                  node: str | None = None, gpu_model: str | None = None) -> Rows:  # fmt: skip
    """Capacity seconds of the registry's GPUs, clipped to each local day (grouped by their latest node and model)."""
    keys = {"model": "", "node": "g.node,", "day": "d.day,", "node_day": "g.node, d.day,"}[by]
    rows = conn.execute(
        text(f"""SELECT {keys} g.gpu_model,
                        sum(least(coalesce(floor(extract(epoch FROM g.retired_at))::bigint, d.hi), d.hi)
                            - greatest(g.first_seen_s, d.lo))::bigint
                 FROM fleet_gpus g
                 JOIN unnest(CAST(:days AS text[]), CAST(:lo AS bigint[]), CAST(:hi AS bigint[])) AS d(day, lo, hi)
                   ON g.first_seen_s < d.hi AND (g.retired_at IS NULL OR g.retired_at > to_timestamp(d.lo))
                 WHERE TRUE {_filters(node, gpu_model, "g")}
                 GROUP BY {keys} g.gpu_model"""),
        _params(start, end, tz, node, gpu_model),
    ).all()
    width = len(_KEYS[by]) if by != "model" else 0
    return [((tuple(row[:width]) or (row[width],)), row[width], FleetSeconds(capacity=max(0, row[width + 1])))
            for row in rows]  # fmt: skip


def tenant_rows(conn: Connection, start: datetime, end: datetime, *,
                gpu_model: str | None = None) -> Rows:  # fmt: skip
    """Allocated and busy seconds per tenant and model, from ``tenant_fleet_hourly``."""
    rows = conn.execute(
        text(f"""SELECT t.tenant_id, t.gpu_model, sum(t.allocated_s)::bigint, sum(t.busy_s)
                 FROM tenant_fleet_hourly t
                 WHERE t.hour >= :s AND t.hour < :e {_filters(None, gpu_model, "t")}
                 GROUP BY 1, 2"""),
        {"s": int(start.timestamp()), "e": int(end.timestamp()), "model": gpu_model},
    ).all()
    return [((tenant,), model, FleetSeconds(allocated=allocated, busy=Decimal(busy or 0)))
            for tenant, model, allocated, busy in rows]  # fmt: skip


def _params(start: datetime, end: datetime, tz: str, node: str | None, gpu_model: str | None) -> dict:
    days = local_days(start, end, tz)
    return {"days": [d for d, _, _ in days], "lo": [lo for _, lo, _ in days], "hi": [hi for _, _, hi in days],
            "s": int(start.timestamp()), "e": int(end.timestamp()), "node": node, "model": gpu_model}  # fmt: skip


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
    return bool(conn.execute(
        text("""SELECT EXISTS (SELECT 1 FROM tenant_fleet_hourly WHERE tenant_id = :t AND hour >= :s AND hour < :e
                               AND last_seq > :a)"""),
        {"t": tenant_id, "s": int(start.timestamp()), "e": int(end.timestamp()), "a": after},
    ).scalar())  # fmt: skip
