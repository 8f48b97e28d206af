"""Service: suppliers, the centres a broker buys capacity from (SPEC §17), each a stream ``supplier:<id>``.

A supplier is created once (``SupplierCreated``) and projected into ``suppliers``; payable contracts
name it in ``supplier_id``. Its timezone (default Asia/Shanghai) dates its billing months, as a
tenant's does.
"""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from billing.core.periods import instant_to_json
from billing.store import suppliers as store
from kashi import streams
from kashi.errors import Conflict, ValidationFailed

SUPPLIER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
FIELDS = {"id", "name", "legal_name", "tax_id", "currency", "timezone"}


def validate(payload: object, *, default_timezone: str = "Asia/Shanghai", default_currency: str = "CNY") -> dict:
    """The supplier from the body of POST /v1/suppliers, or one ValidationFailed naming every bad field."""
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = [{"field": key, "reason": "unknown field"} for key in sorted(set(payload) - FIELDS)]
    supplier_id = payload.get("id")
    if not isinstance(supplier_id, str) or not SUPPLIER_ID.match(supplier_id):
        problems.append({"field": "id", "reason": "letters, digits and . _ : - only, at most 128"})
    name = payload.get("name", supplier_id)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"field": "name", "reason": "must be a non-empty string of at most 200 characters"})
    for field in ("legal_name", "tax_id"):
        value = payload.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
            problems.append({"field": field, "reason": "must be a non-empty string of at most 200 characters"})
    tz = payload.get("timezone") or default_timezone
    try:
        if not isinstance(tz, str):
            raise ValueError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        problems.append({"field": "timezone", "reason": f"unknown IANA timezone {tz!r}"})
    currency = payload.get("currency") or default_currency
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        problems.append({"field": "currency", "reason": "must be an ISO 4217 code such as CNY"})
    if problems:
        raise ValidationFailed(f"supplier has {len(problems)} invalid field(s)", problems)
    return {
        "id": supplier_id,
        "name": name.strip(),
        "legal_name": payload.get("legal_name"),
        "tax_id": payload.get("tax_id"),
        "currency": currency,
        "timezone": tz,
    }


def create(conn: Connection, payload: object, *, actor: str) -> dict:
    """Append ``SupplierCreated`` and project it; 409 when the id is taken."""
    supplier = validate(payload)
    stream = f"{store.STREAM_PREFIX}{supplier['id']}"
    if streams.current_version(conn, stream):
        raise Conflict(f"supplier {supplier['id']} exists", [{"field": "id", "reason": "already taken"}])
    stored = streams.append(conn, stream, 0, [("SupplierCreated", supplier)], actor)
    store.insert_supplier(conn, supplier, stored[0].recorded_at)
    return get(conn, supplier["id"])


def _json(row) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "legal_name": row.legal_name,
        "tax_id": row.tax_id,
        "currency": row.currency,
        "timezone": row.timezone,
        "created_at": instant_to_json(row.created_at.astimezone(UTC)),
    }


def get(conn: Connection, supplier_id: str) -> dict:
    """GET /v1/suppliers/{id}; NotFound for an unknown supplier."""
    return _json(store.read(conn, supplier_id))


def list_suppliers(conn: Connection, *, cursor: str | None = None, limit: int = 100) -> dict:
    """``{"items", "next_cursor"}`` by id."""
    items = [_json(row) for row in store.page(conn, cursor=cursor, limit=limit)]
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def rebuild_projection(conn: Connection) -> int:
    """Refill ``suppliers`` from the ``supplier:*`` streams."""
    return store.rebuild(conn)
