"""Service: tenants (SPEC §10 ``POST /v1/tenants``), each an event stream ``tenant:<id>``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, insert

from billing.store import tenants as store
from kashi import streams
from kashi.errors import Conflict, NotFound, ValidationFailed
from kashi.tables import tenants

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def validate(payload: dict, *, default_timezone: str, default_currency: str) -> dict:
    problems = []
    tenant_id = payload.get("id")
    if not isinstance(tenant_id, str) or not TENANT_ID.match(tenant_id):
        problems.append({"field": "id", "reason": "letters, digits and . _ : - only, at most 128"})
    name = payload.get("name", tenant_id)
    if not isinstance(name, str) or not name.strip():
        problems.append({"field": "name", "reason": "must be a non-empty string"})
    tz = payload.get("timezone") or default_timezone
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append({"field": "timezone", "reason": f"unknown IANA timezone {tz!r}"})
    currency = payload.get("currency") or default_currency
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        problems.append({"field": "currency", "reason": "must be an ISO 4217 code such as CNY"})
    if problems:
        raise ValidationFailed("invalid tenant", problems)
    return {"id": tenant_id, "name": name.strip(), "timezone": tz, "currency": currency}


def create(
    conn: Connection,
    payload: dict,
    *,
    actor: str,
    default_timezone: str = "Asia/Shanghai",
    default_currency: str = "CNY",
) -> dict:
    """Append ``TenantCreated`` and project it; 409 if the id is taken."""
    tenant = validate(payload, default_timezone=default_timezone, default_currency=default_currency)
    stream = f"tenant:{tenant['id']}"
    if streams.current_version(conn, stream):
        raise Conflict(f"tenant {tenant['id']} exists", [{"field": "id", "reason": "already taken"}])
    stored = streams.append(conn, stream, 0, [("TenantCreated", tenant)], actor)
    project(conn, tenant, stored[0].recorded_at)
    return get(conn, tenant["id"])


def project(conn: Connection, tenant: dict, created_at: datetime) -> None:
    conn.execute(insert(tenants).values(**tenant, created_at=created_at))


def get(conn: Connection, tenant_id: str) -> dict:
    """The tenant as the API shows it; NotFound for an unknown tenant."""
    row = store.read(conn, tenant_id)
    return {
        "id": row.id,
        "name": row.name,
        "timezone": row.timezone,
        "currency": row.currency,
        "created_at": row.created_at.astimezone(UTC).isoformat(),
    }


def ensure(conn: Connection, tenant_id: str, **payload) -> dict:
    """Create the tenant unless it exists (the demo and tests)."""
    try:
        return get(conn, tenant_id)
    except NotFound:
        return create(conn, {"id": tenant_id, **payload}, actor="system")
