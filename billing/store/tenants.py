"""The one reader of the ``tenants`` projection (each tenant's stream is ``tenant:<id>``, SPEC §10)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, or_, select

from kashi.errors import NotFound
from kashi.tables import tenants


def read(conn: Connection, tenant_id: str) -> Any:
    """The tenant's row (id, name, timezone, currency, created_at); NotFound when there is none."""
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found", [{"field": "tenant_id", "reason": "not found"}])
    return row


def zone_of(conn: Connection, tenant_id: str) -> str:
    """The tenant's IANA timezone, in which its periods begin and end; NotFound for an unknown tenant."""
    return read(conn, tenant_id).timezone


def zones(conn: Connection, only: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(id, timezone)`` of every tenant (or of those in ``only``), by id."""
    query = select(tenants.c.id, tenants.c.timezone).order_by(tenants.c.id)
    if only is not None:
        query = query.where(tenants.c.id.in_(list(only)))
    return [(row.id, row.timezone) for row in conn.execute(query)]


def search(conn: Connection, q: str | None, *, after: str | None, limit: int) -> list[str]:
    """Ids of tenants whose id or name contains ``q`` (case-insensitive; all when empty), by id,
    after the id ``after``."""
    query = select(tenants.c.id).order_by(tenants.c.id).limit(limit)
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(tenants.c.id.ilike(pattern, escape="\\"), tenants.c.name.ilike(pattern, escape="\\")))
    if after:
        query = query.where(tenants.c.id > after)
    return list(conn.execute(query).scalars())


def count(conn: Connection) -> int:
    """How many tenants there are."""
    return conn.execute(select(func.count()).select_from(tenants)).scalar_one()
