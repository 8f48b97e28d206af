"""The one reader and writer of the ``suppliers`` projection (each supplier's stream is ``supplier:<id>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from billing.store.tables import suppliers
from kashi.errors import NotFound
from kashi.tables import stream_events

STREAM_PREFIX = "supplier:"


def insert_supplier(conn: Connection, supplier: dict, created_at: datetime) -> None:
    conn.execute(insert(suppliers).values(**supplier, created_at=created_at))


def read(conn: Connection, supplier_id: str) -> Any:
    """The supplier's row; NotFound when there is none."""
    row = conn.execute(select(suppliers).where(suppliers.c.id == supplier_id)).first()
    if row is None:
        raise NotFound(f"supplier {supplier_id} not found", [{"field": "supplier_id", "reason": "not found"}])
    return row


def page(conn: Connection, *, cursor: str | None, limit: int) -> list[Any]:
    query = select(suppliers).order_by(suppliers.c.id).limit(limit)
    if cursor:
        query = query.where(suppliers.c.id > cursor)
    return conn.execute(query).all()


def zones(conn: Connection) -> list[tuple[str, str]]:
    """``(id, timezone)`` of every supplier, by id."""
    return [
        (r.id, r.timezone) for r in conn.execute(select(suppliers.c.id, suppliers.c.timezone).order_by(suppliers.c.id))
    ]


def rebuild(conn: Connection) -> int:
    """Refill the projection from the ``supplier:*`` streams."""
    conn.execute(delete(suppliers))
    rows = conn.execute(
        select(stream_events).where(
            stream_events.c.stream_id.startswith(STREAM_PREFIX), stream_events.c.type == "SupplierCreated"
        )
    ).all()
    for row in rows:
        insert_supplier(conn, row.data, row.recorded_at)
    return len(rows)
