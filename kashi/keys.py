"""API keys (SPEC §9): random, shown once, stored as a SHA-256 hash, revocable.

A key reads ``ks_<id>_<secret>``; the id finds the row, the hash of the whole key proves it.
SHA-256 suffices for 256-bit random secrets (no dictionary to guess from), and keeps the
check cheap on the ingest hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select

from kashi.db import raw
from kashi.errors import ValidationFailed
from kashi.tables import api_keys

ROLES = ("operator", "finance", "tenant", "agent")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, and for ``tenant`` keys a tenant, for ``agent`` keys a source."""

    key_id: str
    role: str
    tenant_id: str | None = None
    source: str | None = None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, role: str, *, tenant_id: str | None = None, source: str | None = None) -> str:
    """Store a new key and return it; this is the only time the clear key exists."""
    problems = []
    if role not in ROLES:
        problems.append({"field": "role", "reason": f"must be one of {', '.join(ROLES)}"})
    if role == "tenant" and not tenant_id:
        problems.append({"field": "tenant", "reason": "a tenant key needs --tenant"})
    if role == "agent" and not source:
        problems.append({"field": "source", "reason": "an agent key needs --source (the CloudEvents source)"})
    # a binding the role does not enforce would read as a restriction that is not there
    # (a finance key "for" one tenant would read every tenant's books)
    if tenant_id and role in ROLES and role != "tenant":
        problems.append({"field": "tenant", "reason": f"only a tenant key is bound to a tenant, not a {role} key"})
    if source and role in ROLES and role != "agent":
        problems.append({"field": "source", "reason": f"only an agent key is bound to a source, not a {role} key"})
    if problems:
        raise ValidationFailed("invalid key request", problems)
    key_id = secrets.token_hex(6)
    key = f"ks_{key_id}_{secrets.token_urlsafe(32)}"
    conn.execute(api_keys.insert().values(id=key_id, hash=_hash(key), role=role, tenant_id=tenant_id, source=source))
    return key


_LIVE_KEY = "SELECT hash, role, tenant_id, source FROM api_keys WHERE id = %s AND revoked_at IS NULL"
"""A live key's row by id: once per request, so one plain statement (the driver's, not a compiled
``select``: a third of the CPU of a lookup)."""


def _live_row(conn: Connection, key_id: str) -> tuple | None:
    """``(hash, role, tenant_id, source)`` of the live key ``key_id``, or None."""
    return raw(conn).execute(_LIVE_KEY, (key_id,)).fetchone()


def authenticate(conn: Connection, key: str) -> Principal | None:
    """The principal of a live key, or None for a malformed, unknown or revoked one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "ks" or "\x00" in key:  # no key holds a NUL (nor can PostgreSQL text)
        return None
    row = _live_row(conn, parts[1])
    if row is None or not hmac.compare_digest(row[0], _hash(key)):
        return None
    return Principal(key_id=parts[1], role=row[1], tenant_id=row[2], source=row[3])


def revoke_key(conn: Connection, key_id: str) -> bool:
    from sqlalchemy import func

    result = conn.execute(
        api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    return result.rowcount == 1


def principal_of(conn: Connection, key_id: str) -> Principal | None:
    """The principal of a live key found by its id (the console's session names the id, not the key)."""
    row = None if "\x00" in key_id else _live_row(conn, key_id)
    if row is None:
        return None
    return Principal(key_id=key_id, role=row[1], tenant_id=row[2], source=row[3])


def list_keys(conn: Connection, *, after: str | None = None, limit: int = 100) -> list[dict]:
    """Keys by id, live and revoked, without their hashes: ``id, role, tenant_id, source, created_at,
    revoked_at``; ``after`` is the last id seen."""
    query = (
        select(
            api_keys.c.id,
            api_keys.c.role,
            api_keys.c.tenant_id,
            api_keys.c.source,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        .order_by(api_keys.c.id)
        .limit(limit)
    )
    if after:
        query = query.where(api_keys.c.id > after)
    return [dict(row) for row in conn.execute(query).mappings()]
