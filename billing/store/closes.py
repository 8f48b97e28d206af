"""Close records: ``period_closes``, one row per (tenant, period) closed (SPEC §7).

Each holds the watermark, the contract versions and the adjusted periods the close saw (what replay
needs to reproduce its invoices) and the ids of the invoices it issued.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing.core.periods import Period


def closed_periods(conn: Connection, tenant_id: str) -> list[Period]:
    """The tenant's closed periods, oldest first: what `terms.ensure_period_open` checks (409)."""
    rows = conn.execute(
        text("SELECT period FROM period_closes WHERE tenant_id = :t ORDER BY period"), {"t": tenant_id}
    ).scalars()
    return [Period.parse(p) for p in rows]


def closes_before(conn: Connection, tenant_id: str, period: Period) -> list[Any]:
    """The tenant's closes of periods before `period`, oldest first (period, watermark, inputs)."""
    return conn.execute(
        text(
            "SELECT period, watermark, inputs FROM period_closes WHERE tenant_id = :t AND period < :p ORDER BY period"
        ),
        {"t": tenant_id, "p": str(period)},
    ).all()


def closed_invoice_ids(conn: Connection, tenant_id: str, period: Period) -> list[str] | None:
    row = conn.execute(
        text("SELECT invoice_ids FROM period_closes WHERE tenant_id = :t AND period = :p"),
        {"t": tenant_id, "p": str(period)},
    ).first()
    return None if row is None else list(row.invoice_ids)


def next_close_seq(conn: Connection) -> int:
    """The next close's sequence number: invoices issued by it carry it, replay orders by it."""
    return conn.execute(text("SELECT nextval(pg_get_serial_sequence('period_closes', 'close_seq'))")).scalar_one()


def record_close(
    conn: Connection,
    tenant_id: str,
    period: Period,
    close_seq: int,
    closed_at: datetime,
    watermark: int,
    inputs: dict[str, Any],
    invoice_ids: list[str],
) -> None:
    """Store the close record of (tenant, period)."""
    conn.execute(
        text("""INSERT INTO period_closes (tenant_id, period, close_seq, closed_at, watermark, inputs, invoice_ids)
                VALUES (:t, :p, :s, :at, :w, CAST(:i AS jsonb), CAST(:ids AS jsonb))"""),
        {
            "t": tenant_id,
            "p": str(period),
            "s": close_seq,
            "at": closed_at,
            "w": watermark,
            "i": _json(inputs),
            "ids": _json(invoice_ids),
        },
    )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def closes_of(conn: Connection, period: Period, tenant_id: str | None = None) -> list[Any]:
    """The closes of `period` (for one tenant, or all): tenant_id, closed_at, invoice_ids."""
    query = "SELECT tenant_id, closed_at, invoice_ids FROM period_closes WHERE period = :p"
    if tenant_id is not None:
        query += " AND tenant_id = :t"
    return conn.execute(text(query + " ORDER BY tenant_id"), {"p": str(period), "t": tenant_id}).all()
