"""Service: usage that no contract item rates yet (SPEC §3 ``unrated``), for operators to see.

It is rated with :func:`billing.rating.rate_period`, the rule the month close bills with, and is
billed as soon as a matching contract exists (a closed period's then as an adjustment).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from billing import tenants
from billing.close import contract_states
from billing.errors import NotFound
from billing.periods import DEFAULT_TIMEZONE, Period, instant_to_json, period_of
from billing.rating import GpuRollupRow, TokenRollupRow, rate_period
from metering.tables import gpu_hourly, token_hourly
from metering.usage import card_hours


def unrated_usage(conn: Connection, tenant_id: str, period: str | None = None) -> list[dict[str, Any]]:
    """Hourly rollups of ``tenant_id`` (in ``period`` 'YYYY-MM' when given) that match no contract item
    (SPEC §3): rated with ``billing.rating.rate_period``, the rule the month close bills with. Usage of a
    tenant that was never created is all unrated, in the default timezone."""
    try:
        tz = tenants.get(conn, tenant_id)["timezone"]
    except NotFound:
        tz = DEFAULT_TIMEZONE
    gpu_query = select(gpu_hourly).where(gpu_hourly.c.tenant_id == tenant_id)
    token_query = select(token_hourly).where(token_hourly.c.tenant_id == tenant_id)
    if period is not None:
        window = Period.parse(period)
        low, high = int(window.start(tz).timestamp()), int(window.end(tz).timestamp())
        gpu_query = gpu_query.where(gpu_hourly.c.hour >= low, gpu_hourly.c.hour < high)
        token_query = token_query.where(token_hourly.c.hour >= low, token_hourly.c.hour < high)
    by_period: dict[Period, tuple[list, list]] = defaultdict(lambda: ([], []))
    for r in conn.execute(gpu_query.order_by(gpu_hourly.c.hour, gpu_hourly.c.gpu_model, gpu_hourly.c.contract_id)):
        row = GpuRollupRow.of(r.tenant_id, r.contract_id, r.gpu_model, r.hour, r.card_seconds)
        by_period[period_of(row.hour_start, tz)][0].append(row)
    for r in conn.execute(token_query.order_by(token_hourly.c.hour, token_hourly.c.model, token_hourly.c.kind)):
        row = TokenRollupRow.of(r.tenant_id, r.contract_id, r.model, r.kind, r.hour, r.tokens)
        by_period[period_of(row.hour_start, tz)][1].append(row)
    states = contract_states(conn, tenant_id)
    items: list[dict[str, Any]] = []
    for month in sorted(by_period):
        rated = rate_period(states, month, tz, *by_period[month])
        common = {"tenant_id": tenant_id, "period": str(month)}
        items += [
            {
                "type": "gpu",
                **common,
                "contract_id": row.contract_id,
                "gpu_model": row.gpu_model,
                "hour": instant_to_json(row.hour_start),
                "card_seconds": str(row.card_seconds),
                "card_hours": card_hours(row.card_seconds),
            }
            for row in rated.unrated_gpu
        ]
        items += [
            {
                "type": "tokens",
                **common,
                "contract_id": row.contract_id,
                "model": row.model,
                "kind": row.kind,
                "hour": instant_to_json(row.hour_start),
                "tokens": row.tokens,
            }
            for row in rated.unrated_tokens
        ]
    return items


def tenants_with_usage(conn: Connection) -> list[str]:
    """Every tenant that has hourly GPU or token rollups, by id."""
    query = select(gpu_hourly.c.tenant_id).union(select(token_hourly.c.tenant_id))
    return sorted(conn.execute(query).scalars())
