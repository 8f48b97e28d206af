"""Service: the broker's margin report (SPEC §17): per payable item, cost, revenue of the tenant items
it supplies, margin, machines bought vs resold, and exposure (`billing.core.margin`).

`as_of` for exposure and machine counts is the end of the period, or now while the period runs: the
broker's position "today" as far as that month goes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from billing.core.margin import margin_row
from billing.core.periods import Period
from billing.core.terms import fees_end
from billing.services import catalog as catalog_service
from billing.services.supply import resales_of, zone
from billing.store import suppliers as supplier_rows
from billing.store.contract_streams import contract_states

COLUMNS = (
    "supplier_id",
    "contract_id",
    "item_id",
    "gpu_model",
    "currency",
    "cost",
    "revenue",
    "margin",
    "margin_rate",
    "machines_bought",
    "machines_resold",
    "exposure",
    "supplies",
)


def report_json(conn: Connection, period: Period, now: datetime | None = None) -> dict[str, Any]:
    """GET /v1/reports/margin: `{"period", "items": [rows], "totals": {currency: {...}}}`."""
    now = now or datetime.now(UTC)
    tflops = catalog_service.catalog(conn).tflops
    rows = []
    for supplier_id, tz in supplier_rows.zones(conn):
        as_of = min(now, period.end(tz))
        for payable in contract_states(conn, supplier_id, party="supplier_id"):
            if not (payable.terms.start < period.end(tz) and fees_end(payable, tz) > period.start(tz)):
                continue
            for item in payable.terms.items:
                resales = [
                    (state, item_id, zone(conn, state))
                    for state, item_id in resales_of(conn, f"{payable.id}/{item.id}")
                ]
                rows.append(margin_row(payable, item.id, tz, resales, period, as_of, tflops))
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        total = totals.setdefault(
            row.currency,
            {
                "cost": Decimal("0.00"),
                "revenue": Decimal("0.00"),
                "margin": Decimal("0.00"),
                "exposure": Decimal("0.00"),
            },
        )
        for key in total:
            total[key] += getattr(row, key)
    return {
        "period": str(period),
        "items": [row.to_json() for row in rows],
        "totals": {c: {k: format(v, "f") for k, v in t.items()} for c, t in sorted(totals.items())},
    }


def table(document: dict[str, Any]) -> list[list[Any]]:
    return [
        ["; ".join(item[c]) if isinstance(item[c], list) else item[c] for c in COLUMNS] for item in document["items"]
    ]
