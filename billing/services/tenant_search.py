"""Service: finding tenants by id or name, a page at a time (ordered by id; the cursor is the last id)."""

from __future__ import annotations

from sqlalchemy import Connection

from billing.services.tenants import get
from billing.store import tenants as store


def search(conn: Connection, q: str | None = None, *, after: str | None = None, limit: int = 50) -> dict:
    """``{"items": [tenant JSON…], "next_cursor"}``: tenants whose id or name contains ``q``
    (case-insensitive; every tenant when ``q`` is empty)."""
    items = [get(conn, tenant_id) for tenant_id in store.search(conn, q, after=after, limit=limit)]
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def count(conn: Connection) -> int:
    return store.count(conn)
