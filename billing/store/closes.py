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


def closed_periods_of(conn: Connection, tenant_ids: list[str]) -> dict[str, list[Period]]:
    """Each tenant's closed periods, oldest first, in one query (tenants with none are absent)."""
    rows = conn.execute(
        text("SELECT tenant_id, period FROM period_closes WHERE tenant_id = ANY(:t) ORDER BY tenant_id, period"),
        {"t": list(tenant_ids)},
    ).all()
    found: dict[str, list[Period]] = {}
    for row in rows:
        found.setdefault(row.tenant_id, []).append(Period.parse(row.period))
    return found


def closes_before(conn: Connection, tenant_id: str, period: Period) -> list[Any]:
    """The tenant's closes of periods before `period`, oldest first (period, watermark, inputs)."""
    return conn.execute(
        text(
            "SELECT period, watermark, inputs FROM period_closes WHERE tenant_id = :t AND period < :p ORDER BY period"
        ),
        {"t": tenant_id, "p": str(period)},
    ).all()


def closes_before_of(conn: Connection, tenant_ids: list[str], period: Period) -> dict[str, list[Any]]:
    """:func:`closes_before` of many tenants in one query (tenants without earlier closes are absent)."""
    rows = conn.execute(
        text("""SELECT tenant_id, period, watermark, inputs FROM period_closes
                WHERE tenant_id = ANY(:t) AND period < :p ORDER BY tenant_id, period"""),
        {"t": list(tenant_ids), "p": str(period)},
    ).all()
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.tenant_id, []).append(row)
    return found


def closed_invoice_ids_of(conn: Connection, tenant_ids: list[str], period: Period) -> dict[str, list[str]]:
    """The invoice ids of each of `tenant_ids` that has closed `period` already (one query)."""
    rows = conn.execute(
        text("SELECT tenant_id, invoice_ids FROM period_closes WHERE tenant_id = ANY(:t) AND period = :p"),
        {"t": list(tenant_ids), "p": str(period)},
    ).all()
    return {row.tenant_id: list(row.invoice_ids) for row in rows}


def closed_invoice_ids(conn: Connection, tenant_id: str, period: Period) -> list[str] | None:
    row = conn.execute(
        text("SELECT invoice_ids FROM period_closes WHERE tenant_id = :t AND period = :p"),
        {"t": tenant_id, "p": str(period)},
    ).first()
    return None if row is None else list(row.invoice_ids)


def next_close_seqs(conn: Connection, count: int) -> list[int]:
    """`count` close sequence numbers, ascending, in one round trip."""
    return sorted(
        conn.execute(
            text("SELECT nextval(pg_get_serial_sequence('period_closes', 'close_seq')) FROM generate_series(1, :n)"),
            {"n": count},
        ).scalars()
    )


CloseRecord = tuple[str, Period, int, datetime, int, dict[str, Any], list[str]]
"""(tenant, period, close_seq, closed_at, watermark, inputs, invoice_ids)."""


def record_closes(conn: Connection, records: list[CloseRecord]) -> None:
    """Store many close records ``(tenant, period, close_seq, closed_at, watermark, inputs, invoice_ids)``
    in one batch."""
    if records:
        conn.execute(
            text("""INSERT INTO period_closes (tenant_id, period, close_seq, closed_at, watermark, inputs, invoice_ids)
                    VALUES (:t, :p, :s, :at, :w, CAST(:i AS jsonb), CAST(:ids AS jsonb))"""),
            [
                {"t": t, "p": str(p), "s": s, "at": at, "w": w, "i": _json(i), "ids": _json(ids)}
                for t, p, s, at, w, i, ids in records
            ],
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def closes_of(conn: Connection, period: Period, tenant_id: str | None = None) -> list[Any]:
    """The closes of `period` (for one tenant, or all): tenant_id, closed_at, invoice_ids."""
    query = "SELECT tenant_id, closed_at, invoice_ids FROM period_closes WHERE period = :p"
    if tenant_id is not None:
        query += " AND tenant_id = :t"
    return conn.execute(text(query + " ORDER BY tenant_id"), {"p": str(period), "t": tenant_id}).all()
