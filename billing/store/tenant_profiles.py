"""`tenant_profiles`: each tenant's billing profile, a projection of its `tenant:<id>` stream, and the
tenant rows joined with it (what the API shows and searches)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

_SELECT = """SELECT t.*, p.legal_name, p.tax_id, p.address, p.billing_email,
                    coalesce(p.payment_terms_days, 30) AS payment_terms_days
               FROM tenants t LEFT JOIN tenant_profiles p ON p.tenant_id = t.id"""


def write(conn: Connection, tenant_id: str, profile: dict[str, Any]) -> None:
    """Insert or replace the tenant's profile (legal_name, tax_id, address, billing_email, payment_terms_days)."""
    conn.execute(
        text("""INSERT INTO tenant_profiles (tenant_id, legal_name, tax_id, address, billing_email, payment_terms_days)
                VALUES (:t, :legal_name, :tax_id, :address, :billing_email, :payment_terms_days)
                ON CONFLICT (tenant_id) DO UPDATE SET legal_name = EXCLUDED.legal_name, tax_id = EXCLUDED.tax_id,
                  address = EXCLUDED.address, billing_email = EXCLUDED.billing_email,
                  payment_terms_days = EXCLUDED.payment_terms_days"""),
        {"t": tenant_id, **profile},
    )


def rename(conn: Connection, tenant_id: str, name: str) -> None:
    conn.execute(text("UPDATE tenants SET name = :n WHERE id = :t"), {"n": name, "t": tenant_id})


def read(conn: Connection, tenant_id: str) -> Any | None:
    """The tenant row with its profile columns, or None."""
    return conn.execute(text(_SELECT + " WHERE t.id = :t"), {"t": tenant_id}).first()


def read_many(conn: Connection, tenant_ids: list[str]) -> dict[str, Any]:
    """The rows of `read` for many tenants at once, by id (unknown ids are absent)."""
    rows = conn.execute(text(_SELECT + " WHERE t.id = ANY(:t)"), {"t": list(tenant_ids)}).all()
    return {row.id: row for row in rows}


def search(conn: Connection, q: str | None, after: str | None, limit: int) -> list:
    """Tenant rows by id whose id, name or legal name contains `q` (any case); `after`: the last id seen."""
    pattern = None if not q else "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return conn.execute(
        text(
            _SELECT
            + """ WHERE (CAST(:q AS text) IS NULL OR t.id ILIKE :q OR t.name ILIKE :q
                                  OR p.legal_name ILIKE :q)
                             AND (CAST(:a AS text) IS NULL OR t.id > :a) ORDER BY t.id LIMIT :l"""
        ),
        {"q": pattern, "a": after, "l": limit},
    ).all()


def tenant_events(conn: Connection) -> list:
    """Every event of every `tenant:<id>` stream, in stream order (for a rebuild)."""
    return conn.execute(
        text("""SELECT stream_id, type, data FROM stream_events WHERE stream_id LIKE 'tenant:%'
                                ORDER BY stream_id, version""")
    ).all()
