"""Service: tenants (SPEC §10 ``POST /v1/tenants``), each an event stream ``tenant:<id>``.

A tenant carries a billing profile (legal name, tax id, address, billing e-mail, payment terms in
days, default 30). ``TenantCreated`` holds the first one; each ``PATCH`` appends
``TenantProfileChanged`` with the fields it changed. The ``tenants`` and ``tenant_profiles`` rows
are projections of the stream (``rebuild_profiles`` refolds them). Invoices copy the profile they
were issued with, so a later change never alters an issued document.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, insert

from billing.core.money import KNOWN_CURRENCIES
from billing.core.periods import instant_to_json
from billing.core.receivables import DEFAULT_PAYMENT_TERMS_DAYS
from billing.store import tenant_profiles as profiles
from kashi import streams
from kashi.errors import Conflict, NotFound, ValidationFailed
from kashi.tables import tenants

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
PROFILE_FIELDS = ("legal_name", "tax_id", "address", "billing_email", "payment_terms_days")
CREATE_FIELDS = ("id", "name", "timezone", "currency", *PROFILE_FIELDS)
PATCH_FIELDS = ("name", *PROFILE_FIELDS)
MAX_TERMS_DAYS = 365
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _unknown(payload: dict, allowed: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"field": key, "reason": "unknown field"} for key in sorted(set(payload) - set(allowed))]


def _profile_problems(payload: dict) -> list[dict[str, str]]:
    problems = []
    for field in ("legal_name", "tax_id", "address", "billing_email"):
        value = payload.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 500):
            problems.append({"field": field, "reason": "must be a string of at most 500 characters, or null"})
    email = payload.get("billing_email")
    if isinstance(email, str) and email and not EMAIL.match(email):
        problems.append({"field": "billing_email", "reason": "must be an e-mail address"})
    if "payment_terms_days" in payload:
        days = payload["payment_terms_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_TERMS_DAYS:
            reason = f"must be a whole number of days, 0–{MAX_TERMS_DAYS}"
            problems.append({"field": "payment_terms_days", "reason": reason})
    return problems


def _clean(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def validate(payload: dict, *, default_timezone: str, default_currency: str) -> dict:
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = _unknown(payload, CREATE_FIELDS)
    tenant_id = payload.get("id")
    if not isinstance(tenant_id, str) or not TENANT_ID.match(tenant_id):
        problems.append({"field": "id", "reason": "letters, digits and . _ : - only, at most 128"})
    name = payload.get("name", tenant_id)
    if not isinstance(name, str) or not name.strip():
        problems.append({"field": "name", "reason": "must be a non-empty string"})
    tz = payload.get("timezone") or default_timezone
    try:
        if not isinstance(tz, str):
            raise ValueError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        problems.append({"field": "timezone", "reason": f"unknown IANA timezone {tz!r}"})
    currency = payload.get("currency") or default_currency
    if not isinstance(currency, str) or currency not in KNOWN_CURRENCIES:  # as a contract's (money.validate_currency)
        problems.append({"field": "currency", "reason": "must be an ISO 4217 code such as CNY"})
    problems += _profile_problems(payload)
    if problems:
        raise ValidationFailed("invalid tenant", problems)
    profile = {field: _clean(payload.get(field)) for field in PROFILE_FIELDS}
    if profile["payment_terms_days"] is None:
        profile["payment_terms_days"] = DEFAULT_PAYMENT_TERMS_DAYS
    return {"id": tenant_id, "name": name.strip(), "timezone": tz, "currency": currency, **profile}


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
    conn.execute(
        insert(tenants).values(
            id=tenant["id"],
            name=tenant["name"],
            timezone=tenant["timezone"],
            currency=tenant["currency"],
            created_at=created_at,
        )
    )
    _write_profile(conn, tenant["id"], profile_of(tenant))


def profile_of(data: dict) -> dict[str, Any]:
    """The billing profile in a ``TenantCreated`` (older ones carry none: the defaults)."""
    profile = {field: data.get(field) for field in PROFILE_FIELDS}
    if profile["payment_terms_days"] is None:
        profile["payment_terms_days"] = DEFAULT_PAYMENT_TERMS_DAYS
    return profile


def _write_profile(conn: Connection, tenant_id: str, profile: dict[str, Any]) -> None:
    profiles.write(conn, tenant_id, profile)


def update(conn: Connection, tenant_id: str, payload: dict, *, actor: str) -> dict:
    """Append ``TenantProfileChanged`` with the fields `payload` changes (name and the billing profile);
    unknown fields and timezone or currency (they define the tenant's periods and books) are 422."""
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = [
        {"field": key, "reason": "cannot be changed" if key in ("id", "timezone", "currency") else "unknown field"}
        for key in sorted(set(payload) - set(PATCH_FIELDS))
    ]
    if "name" in payload and (not isinstance(payload["name"], str) or not payload["name"].strip()):
        problems.append({"field": "name", "reason": "must be a non-empty string"})
    if payload.get("payment_terms_days", 0) is None:
        problems.append({"field": "payment_terms_days", "reason": "must be a whole number of days"})
    problems += _profile_problems(payload)
    if problems:
        raise ValidationFailed("invalid tenant change", problems)
    stream = f"tenant:{tenant_id}"
    version = streams.current_version(conn, stream)
    get(conn, tenant_id)
    changes = {key: _clean(value) for key, value in payload.items()}
    if changes:
        streams.append(conn, stream, version, [("TenantProfileChanged", changes)], actor)
        apply_change(conn, tenant_id, changes)
    return get(conn, tenant_id)


def apply_change(conn: Connection, tenant_id: str, changes: dict[str, Any]) -> None:
    if "name" in changes:
        profiles.rename(conn, tenant_id, changes["name"])
    if any(f in changes for f in PROFILE_FIELDS):
        profile = {f: get(conn, tenant_id)[f] for f in PROFILE_FIELDS}
        profile.update({f: changes[f] for f in PROFILE_FIELDS if f in changes})
        _write_profile(conn, tenant_id, profile)


def _json(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "timezone": row.timezone,
        "currency": row.currency,
        "created_at": instant_to_json(row.created_at.astimezone(UTC)),
        "legal_name": row.legal_name,
        "tax_id": row.tax_id,
        "address": row.address,
        "billing_email": row.billing_email,
        "payment_terms_days": row.payment_terms_days,
    }


def get(conn: Connection, tenant_id: str) -> dict:
    row = profiles.read(conn, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found", [{"field": "tenant_id", "reason": "not found"}])
    return _json(row)


def get_many(conn: Connection, tenant_ids: list[str]) -> dict[str, dict]:
    """`get` of many tenants in one query, by id (unknown ids are absent)."""
    return {tenant_id: _json(row) for tenant_id, row in profiles.read_many(conn, tenant_ids).items()}


def search(conn: Connection, q: str | None, after: str | None, limit: int) -> list[dict]:
    """Tenants by id whose id, name or legal name contains `q` (any case); `after`: the last id seen."""
    rows = profiles.search(conn, q, after, limit)
    return [_json(r) for r in rows]


def party(tenant: dict) -> dict[str, Any]:
    """The tenant as an invoice's bill-to party: what documents print, frozen at issue."""
    return {key: tenant[key] for key in ("id", "name", "legal_name", "tax_id", "address", "billing_email")}


def rebuild_profiles(conn: Connection) -> int:
    """Refill `tenant_profiles` (and tenant names) by folding every tenant stream."""
    rows = profiles.tenant_events(conn)
    folded: dict[str, dict[str, Any]] = {}
    for row in rows:
        tenant_id = row.stream_id.removeprefix("tenant:")
        if row.type == "TenantCreated":
            folded[tenant_id] = profile_of(row.data)
        elif row.type == "TenantProfileChanged" and tenant_id in folded:
            folded[tenant_id].update({k: v for k, v in row.data.items() if k in PROFILE_FIELDS})
    for tenant_id, profile in folded.items():
        _write_profile(conn, tenant_id, profile)
    return len(folded)


def ensure(conn: Connection, tenant_id: str, **payload) -> dict:
    """Create the tenant unless it exists (the demo and tests)."""
    try:
        return get(conn, tenant_id)
    except NotFound:
        return create(conn, {"id": tenant_id, **payload}, actor="system")
