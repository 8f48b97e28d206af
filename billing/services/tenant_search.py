"""Service: finding tenants by id or name, a page at a time (ordered by id; the cursor is the last id)."""

from __future__ import annotations

from sqlalchemy import Connection, func, or_, select

from billing.services.tenants import get
from kashi.tables import tenants


def search(conn: Connection, q: str | None = None, *, after: str | None = None, limit: int = 50) -> dict:
    """``{"items": [tenant JSON…], "next_cursor"}``: tenants whose id or name contains ``q``
    (case-insensitive; every tenant when ``q`` is empty)."""
    query = select(tenants.c.id).order_by(tenants.c.id).limit(limit)
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(tenants.c.id.ilike(pattern, escape="\\"), tenants.c.name.ilike(pattern, escape="\\")))
    if after:
        query = query.where(tenants.c.id > after)
    items = [get(conn, tenant_id) for tenant_id in conn.execute(query).scalars()]
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(tenants)).scalar_one()
