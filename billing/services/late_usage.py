"""Service: late usage waiting for the next invoice (``GET /v1/usage/late``, ``kashi close``).

Usage whose event time lies in a closed period but that was persisted after that close (seq above the
close's watermark) is billed on the tenant's next close of a later period, as an adjustment line
labelled with its own period. Until that close it is *late and unbilled*: this lists it per period,
for one tenant or for every tenant at once (:mod:`billing.store.late_usage`: a few set-based queries,
whatever the number of tenants).
"""

from __future__ import annotations

from sqlalchemy import Connection

from billing.core.periods import Period, instant_to_json
from billing.core.utilization import card_hours
from billing.store import late_usage as store
from billing.store import tenants


def late_usage(conn: Connection, tenant_id: str | None = None, period: Period | None = None) -> list[dict]:
    """Per closed period of the tenant (every tenant when None; or just `period`), by tenant and
    period: late usage not billed by a later close yet. An unknown tenant is NotFound."""
    if tenant_id is not None:
        tenants.zone_of(conn, tenant_id)
    wanted = [c for c in store.closes(conn, tenant_id) if period is None or c.period == str(period)]
    spans = []
    for close in wanted:
        month = Period.parse(close.period)
        spans.append((close, int(month.start(close.timezone).timestamp()), int(month.end(close.timezone).timestamp())))
    closed_at = {(c.tenant_id, c.period): c.closed_at for c in wanted}
    items = []
    for totals in store.late_totals(conn, spans):
        items.append(
            {
                "tenant_id": totals.tenant_id,
                "period": totals.period,
                "closed_at": instant_to_json(closed_at[(totals.tenant_id, totals.period)]),
                "events": totals.events,
                "card_seconds": totals.card_seconds,
                "card_hours": str(card_hours(totals.card_seconds)),  # as /v1/usage: 6 places, half up
                "tokens": totals.tokens,
                "billed_on": "the tenant's next close of a later period, as adjustment lines",
            }
        )
    return items
