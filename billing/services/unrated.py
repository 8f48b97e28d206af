"""Service: usage that no contract item rates yet (SPEC §3 ``unrated``), for operators to see.

It is rated with :func:`billing.rating.rate_period`, the rule the month close bills with, and is
billed as soon as a matching contract exists (a closed period's then as an adjustment).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from billing.core.periods import DEFAULT_TIMEZONE, Period, instant_to_json, period_of
from billing.core.rating import rate_period, rating_boundaries
from billing.services import tenants
from billing.store.contract_streams import contract_states
from kashi.errors import NotFound
from metering.query import gpu_rows, token_rows
from metering.tables import gpu_hourly, token_hourly
from metering.usage import card_hours

ALL_PERSISTED = 2**62
"""A watermark above every log position: unrated usage is shown as soon as it is persisted."""


def usage_periods(conn: Connection, tenant_id: str, tz: str) -> list[Period]:
    """The months (in ``tz``) in which the tenant has any GPU or token usage."""
    hours = (
        select(gpu_hourly.c.hour)
        .where(gpu_hourly.c.tenant_id == tenant_id)
        .union(select(token_hourly.c.hour).where(token_hourly.c.tenant_id == tenant_id))
    )
    return sorted({period_of(datetime.fromtimestamp(h, UTC), tz) for h in conn.execute(hours).scalars()})


def unrated_usage(conn: Connection, tenant_id: str, period: str | None = None) -> list[dict[str, Any]]:
    """Usage of ``tenant_id`` (in ``period`` 'YYYY-MM' when given) that matches no contract item
    (SPEC §3), cut and rated exactly as the month close bills it (``metering.query.gpu_rows`` at the rating
    boundaries, ``rating.rate_period``). A tenant that was never created has all of its usage
    unrated, in the default timezone."""
    try:
        tz = tenants.get(conn, tenant_id)["timezone"]
    except NotFound:
        tz = DEFAULT_TIMEZONE
    states = contract_states(conn, tenant_id)
    cuts = rating_boundaries(states, tz)
    months = [Period.parse(period)] if period is not None else usage_periods(conn, tenant_id, tz)
    items: list[dict[str, Any]] = []
    for month in months:
        rated = rate_period(
            states,
            month,
            tz,
            gpu_rows(conn, tenant_id, month, tz, ALL_PERSISTED, cuts),
            token_rows(conn, tenant_id, month, tz, ALL_PERSISTED, cuts),
        )
        common = {"tenant_id": tenant_id, "period": str(month)}
        items += [
            {
                "type": "gpu",
                **common,
                "contract_id": row.contract_id,
                "gpu_model": row.gpu_model,
                "hour": instant_to_json(row.hour_start),
                "until": instant_to_json(row.until),
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
                "until": instant_to_json(row.until),
                "tokens": row.tokens,
            }
            for row in rated.unrated_tokens
        ]
    return items


def tenants_with_usage(conn: Connection) -> list[str]:
    """Every tenant that has hourly GPU or token rollups, by id."""
    query = select(gpu_hourly.c.tenant_id).union(select(token_hourly.c.tenant_id))
    return sorted(conn.execute(query).scalars())
