"""Usage queries: rollups grouped by hour, day or month in the tenant's timezone (SPEC §10)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from math import ceil

from sqlalchemy import Connection, text

GROUPS = ("hour", "day", "month")
HOURS_PLACES = Decimal("0.000001")


def card_hours(card_seconds: int) -> str:
    """Card-hours as a decimal string, to 6 places (3,600 card-seconds are one card-hour)."""
    return str((Decimal(card_seconds) / 3600).quantize(HOURS_PLACES, rounding=ROUND_HALF_UP))


def hour_bounds(start: datetime, end: datetime) -> dict[str, int]:
    """``[start, end)`` as integer epoch bounds on the bigint ``hour`` column (``:s``, ``:e``).

    Bound as bigints the comparison stays an index condition on (tenant_id, hour); compared with
    ``extract(epoch …)`` (numeric) PostgreSQL casts every row's hour to numeric and filters the
    tenant's whole history. ``hour >= x`` ⇔ ``hour >= ⌈x⌉`` and ``hour < x`` ⇔ ``hour < ⌈x⌉`` for integers.
    """
    return {"s": ceil(start.timestamp()), "e": ceil(end.timestamp())}


def gpu_usage(conn: Connection, tenant_id: str, tz: str, start: datetime, end: datetime, group_by: str) -> list[dict]:
    """Card-seconds per bucket, contract and GPU model, for hours starting in ``[start, end)``."""
    rows = conn.execute(
        text("""
        SELECT date_trunc(:g, to_timestamp(hour) AT TIME ZONE :tz) AT TIME ZONE :tz AS bucket,
               contract_id, gpu_model, sum(card_seconds)::bigint AS card_seconds
        FROM gpu_hourly
        WHERE tenant_id = :t AND hour >= :s AND hour < :e
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""),
        {"g": group_by, "tz": tz, "t": tenant_id, **hour_bounds(start, end)},
    )
    return [
        {
            "bucket": r.bucket,
            "contract_id": r.contract_id or None,
            "gpu_model": r.gpu_model,
            "card_seconds": str(r.card_seconds),
            "card_hours": card_hours(r.card_seconds),
        }
        for r in rows
    ]


def token_usage(conn: Connection, tenant_id: str, tz: str, start: datetime, end: datetime, group_by: str) -> list[dict]:
    """Tokens per bucket, contract, model and kind, for hours starting in ``[start, end)`` (a kind with
    no tokens in a bucket has no row)."""
    rows = conn.execute(
        text("""
        SELECT date_trunc(:g, to_timestamp(t.hour) AT TIME ZONE :tz) AT TIME ZONE :tz AS bucket,
               t.contract_id, t.model, k.kind, sum(k.tokens)::bigint AS tokens
        FROM token_hourly t
        CROSS JOIN LATERAL (VALUES ('input', t.input_tokens), ('output', t.output_tokens),
                                   ('cached', t.cached_tokens)) AS k(kind, tokens)
        WHERE t.tenant_id = :t AND t.hour >= :s AND t.hour < :e
        GROUP BY 1, 2, 3, 4 HAVING sum(k.tokens) > 0 ORDER BY 1, 2, 3, 4"""),
        {"g": group_by, "tz": tz, "t": tenant_id, **hour_bounds(start, end)},
    )
    return [
        {"bucket": r.bucket, "contract_id": r.contract_id or None, "model": r.model, "kind": r.kind, "tokens": r.tokens}
        for r in rows
    ]


def card_seconds_by_model(conn: Connection, tenant_id: str | None = None) -> list[tuple[str, str, int]]:
    """Total card-seconds per tenant and GPU model (for the demo's table)."""
    rows = conn.execute(
        text("""
        SELECT tenant_id, gpu_model, sum(card_seconds)::bigint FROM gpu_hourly
        WHERE CAST(:t AS text) IS NULL OR tenant_id = :t GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"t": tenant_id},
    )
    return [tuple(r) for r in rows]


def totals(conn: Connection, start: datetime, end: datetime) -> tuple[int, int]:
    """(card-seconds, tokens) of every tenant in hours starting in ``[start, end)``."""
    row = conn.execute(
        text("""
        SELECT (SELECT coalesce(sum(card_seconds), 0) FROM gpu_hourly
                WHERE hour >= extract(epoch FROM CAST(:s AS timestamptz))
                  AND hour < extract(epoch FROM CAST(:e AS timestamptz)))::bigint AS card_seconds,
               (SELECT coalesce(sum(input_tokens + output_tokens + cached_tokens), 0) FROM token_hourly
                WHERE hour >= extract(epoch FROM CAST(:s AS timestamptz))
                  AND hour < extract(epoch FROM CAST(:e AS timestamptz)))::bigint AS tokens"""),
        {"s": start, "e": end},
    ).one()
    return row.card_seconds, row.tokens


def card_seconds_per_day(
    conn: Connection, start: datetime, end: datetime, tz: str, tenant_id: str | None = None
) -> list[tuple[date, int]]:
    """(local day, card-seconds) for each day from ``start`` to ``end`` (local midnights in ``tz``),
    zero for days without usage; every tenant, or one."""
    rows = conn.execute(
        text("""
        SELECT d::date AS day, coalesce(sum(h.card_seconds), 0)::bigint AS card_seconds
        FROM generate_series(CAST(:s AS timestamptz) AT TIME ZONE :tz,
                             CAST(:e AS timestamptz) AT TIME ZONE :tz - interval '1 day', interval '1 day') AS d
        LEFT JOIN gpu_hourly h
          ON date_trunc('day', to_timestamp(h.hour) AT TIME ZONE :tz) = d
         AND (CAST(:t AS text) IS NULL OR h.tenant_id = :t)
        GROUP BY d ORDER BY d"""),
        {"s": start, "e": end, "tz": tz, "t": tenant_id},
    )
    return [(r.day, r.card_seconds) for r in rows]
