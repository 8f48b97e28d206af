"""Late usage, set-based: for every close of every tenant at once (``GET /v1/usage/late``).

Usage whose event time lies in a closed period but that was persisted above every watermark of that
close and of the tenant's later closes has not been billed yet. Two queries answer for any number
of tenants: the closes with the highest watermark at or after each (a window over the tenant's
closes), then the late totals of all of them in one pass (the closes unnested, each joined laterally
to the coverage and the token events above its watermark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Close:
    tenant_id: str
    period: str
    timezone: str
    closed_at: datetime
    billed_upto: int
    """The highest watermark of this close and the tenant's later ones: usage above it is unbilled."""


@dataclass(frozen=True)
class LateTotals:
    tenant_id: str
    period: str
    card_seconds: int
    tokens: int
    events: int


def closes(conn: Connection, tenant_id: str | None = None) -> list[Close]:
    """Every close of `tenant_id` (or of every tenant), by tenant and period."""
    rows = conn.execute(
        text("""SELECT c.tenant_id, c.period, t.timezone, c.closed_at,
                       max(c.watermark) OVER (PARTITION BY c.tenant_id ORDER BY c.period
                                              ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS billed_upto
                  FROM period_closes c JOIN tenants t ON t.id = c.tenant_id
                 WHERE CAST(:t AS text) IS NULL OR c.tenant_id = :t
                 ORDER BY c.tenant_id, c.period"""),
        {"t": tenant_id},
    ).all()
    return [Close(r.tenant_id, r.period, r.timezone, r.closed_at, r.billed_upto) for r in rows]


def late_totals(conn: Connection, spans: Sequence[tuple[Close, int, int]]) -> list[LateTotals]:
    """For each ``(close, start_s, end_s)`` (the period's bounds in the tenant's zone, epoch seconds):
    card-seconds newly counted inside the period above the close's `billed_upto`, tokens by event
    time, and how many events brought them; only closes with late usage, in the order given."""
    if not spans:
        return []
    rows = conn.execute(
        text("""SELECT c.n, c.tenant_id, c.period, g.seconds, g.events AS gpu_events,
                       k.tokens, k.events AS token_events
                  FROM unnest(CAST(:tenants AS text[]), CAST(:periods AS text[]), CAST(:starts AS bigint[]),
                              CAST(:ends AS bigint[]), CAST(:upto AS bigint[]))
                       WITH ORDINALITY AS c(tenant_id, period, s, e, upto, n)
                 CROSS JOIN LATERAL (
                       SELECT coalesce(sum(least(end_s, c.e) - greatest(start_s, c.s)), 0) AS seconds,
                              count(DISTINCT seq) AS events
                         FROM gpu_coverage
                        WHERE tenant_id = c.tenant_id AND seq > c.upto AND start_s < c.e AND end_s > c.s) AS g
                 CROSS JOIN LATERAL (
                       SELECT coalesce(sum(coalesce((data->>'input_tokens')::bigint, 0)
                                         + coalesce((data->>'output_tokens')::bigint, 0)
                                         + coalesce((data->>'cached_tokens')::bigint, 0)), 0) AS tokens,
                              count(*) AS events
                         FROM usage_events
                        WHERE tenant_id = c.tenant_id AND type = 'llm.tokens' AND seq > c.upto
                          AND event_time >= to_timestamp(c.s) AND event_time < to_timestamp(c.e)) AS k
                 WHERE g.events + k.events > 0
                 ORDER BY c.n"""),
        {
            "tenants": [close.tenant_id for close, _, _ in spans],
            "periods": [close.period for close, _, _ in spans],
            "starts": [start for _, start, _ in spans],
            "ends": [end for _, _, end in spans],
            "upto": [close.billed_upto for close, _, _ in spans],
        },
    ).all()
    return [
        LateTotals(r.tenant_id, r.period, int(r.seconds), int(r.tokens), r.gpu_events + r.token_events) for r in rows
    ]
