"""Service: late usage waiting for the next invoice (``GET /v1/usage/late``, ``kashi close``).

Usage whose event time lies in a closed period but that was persisted after that close (seq above the
close's watermark) is billed on the tenant's next close of a later period, as an adjustment line
labelled with its own period. Until that close it is *late and unbilled*: this lists it per period.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, text

from billing.core.periods import Period, instant_to_json
from billing.store import tenants
from metering import query


def late_usage(conn: Connection, tenant_id: str, period: Period | None = None) -> list[dict]:
    """Per closed period of the tenant (or just `period`): late usage not billed by a later close yet."""
    tz = tenants.zone_of(conn, tenant_id)
    rows = conn.execute(
        text("SELECT period, watermark, closed_at FROM period_closes WHERE tenant_id = :t ORDER BY period"),
        {"t": tenant_id},
    ).all()
    items = []
    for n, row in enumerate(rows):
        if period is not None and row.period != str(period):
            continue
        billed_upto = max([row.watermark] + [later.watermark for later in rows[n + 1 :]])
        totals = query.late_totals(conn, tenant_id, Period.parse(row.period), tz, billed_upto)
        if totals["events"]:
            hours = (Decimal(totals["card_seconds"]) / 3600).quantize(Decimal("0.0001"))
            items.append(
                {
                    "tenant_id": tenant_id,
                    "period": row.period,
                    "closed_at": instant_to_json(row.closed_at),
                    "events": totals["events"],
                    "card_seconds": totals["card_seconds"],
                    "card_hours": str(hours),
                    "tokens": totals["tokens"],
                    "billed_on": "the tenant's next close of a later period, as adjustment lines",
                }
            )
    return items


def late_usage_of(conn: Connection, tenant_id: str | None = None) -> list[dict]:
    """`late_usage` of one tenant, or of every tenant (by id) when `tenant_id` is None."""
    ids = [tenant_id] if tenant_id is not None else [t for t, _ in tenants.zones(conn)]
    return [item for t in ids for item in late_usage(conn, t)]
