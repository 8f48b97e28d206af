"""Ingest health: usage conflicts and parked batches, what an operator must look at (issue 3).

The queries behind ``GET /v1/usage/conflicts`` and ``GET /v1/ingest/parked`` and the console's
usage page and overview, so both read the same rows."""

from __future__ import annotations

from sqlalchemy import Connection, text


def conflicts(conn: Connection, *, after: int = 0, limit: int = 100, tenant_id: str | None = None) -> list[dict]:
    """GPU-seconds reported by two tenants, billed to the first persisted (``holder_tenant_id``), by id;
    ``after`` is the last id seen; ``tenant_id`` narrows to conflicts that tenant is party to."""
    rows = (
        conn.execute(
            text("""
        SELECT c.id, c.gpu, to_timestamp(c.start_s) AS start, to_timestamp(c.end_s) AS "end",
               c.end_s - c.start_s AS card_seconds, c.tenant_id, c.holder_tenant_id, e.source, e.id AS event_id
        FROM usage_conflicts c JOIN usage_events e ON e.seq = c.seq
        WHERE c.id > :cursor AND (CAST(:t AS text) IS NULL OR :t IN (c.tenant_id, c.holder_tenant_id))
        ORDER BY c.id LIMIT :limit"""),
            {"cursor": after, "limit": limit, "t": tenant_id},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def parked_batches(conn: Connection) -> list[dict]:
    """Batches that failed delivery too often and wait for an operator (never silently dropped)."""
    rows = (
        conn.execute(
            text("""
        SELECT batch_id, attempts, events, first_seen, last_seen, error FROM ingest_batches
        WHERE status = 'parked' ORDER BY first_seen""")
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def counts(conn: Connection) -> dict[str, int]:
    """How many conflicts and parked batches there are (the overview's ingest-health card)."""
    row = conn.execute(
        text("""
        SELECT (SELECT count(*) FROM usage_conflicts) AS conflicts,
               (SELECT count(*) FROM ingest_batches WHERE status = 'parked') AS parked""")
    ).one()
    return {"conflicts": row.conflicts, "parked": row.parked}
