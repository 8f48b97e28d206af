"""Metering's usage, read the way billing rates it (SPEC §2, §3, §7).

The month close, replay and the unrated view read usage only through this module: the ingest
watermark (fenced against in-flight recorders), card-seconds clipped exactly at a period's bounds
and cut at rating boundaries, tokens by event time, and whether a closed period received usage late.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, text

from kashi.errors import Conflict
from metering.hourly import GpuRollupRow, TokenRollupRow
from metering.intervals import HOUR, split, split_at
from metering.store import INGEST_FENCE, MAX_INTERVAL_S


class Span(Protocol):
    """A billing period as the queries see it: its bounds in a timezone (``billing.core.periods.Period``)."""

    def start(self, tz: str) -> datetime: ...

    def end(self, tz: str) -> datetime: ...


def read_watermark(engine: Engine) -> int:
    """The highest usage seq whose transaction has committed, fenced against in-flight recorders.

    Refuses (Conflict) while an in-place rebuild that died has left the usage projections half built."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_FENCE})
        top, rebuilding = conn.execute(
            text("""SELECT coalesce(max(seq), 0),
                                                      EXISTS (SELECT 1 FROM replay_checkpoints)
                                               FROM usage_events""")
        ).one()
    if rebuilding:
        raise Conflict(
            "an in-place rebuild of the usage projections is unfinished; run `kashi replay` to complete it",
            [{"field": "period", "reason": "usage projections are being rebuilt"}],
        )
    return top


def _cuts(period: Span, tz: str, boundaries: Iterable[datetime]) -> list[int]:
    """The period's bounds and the rating boundaries inside it, as sorted UTC epoch seconds."""
    start, end = int(period.start(tz).timestamp()), int(period.end(tz).timestamp())
    inside = {int(b.timestamp()) for b in boundaries if start < b.timestamp() < end}
    return sorted({start, end} | inside)


def _segment(instant: int, cuts: list[int]) -> tuple[int, int]:
    """The stretch ``[from, to)`` holding ``instant`` that crosses neither an hour nor a cut."""
    hour = instant - instant % HOUR
    at = bisect_right(cuts, instant)
    return max(hour, cuts[at - 1]), min(hour + HOUR, cuts[at])


def gpu_rows(
    conn: Connection, tenant_id: str, period: Span, tz: str, watermark: int, boundaries: Iterable[datetime] = ()
) -> list[GpuRollupRow]:
    """Card-seconds newly counted by events with seq ≤ watermark, clipped exactly to `period`, per
    (contract named, GPU model, stretch): stretches are hours, cut at the period's bounds and at the
    `boundaries` where rating can change (`billing.core.rating.rating_boundaries`), so each is rated whole."""
    return gpu_rows_of(conn, [(tenant_id, tz, boundaries)], period, watermark)[tenant_id]


def gpu_rows_of(
    conn: Connection, tenants: list[tuple[str, str, Iterable[datetime]]], period: Span, watermark: int
) -> dict[str, list[GpuRollupRow]]:
    """:func:`gpu_rows` of many ``(tenant, timezone, rating boundaries)`` at once: one query."""
    cuts = {tenant: _cuts(period, tz, boundaries) for tenant, tz, boundaries in tenants}
    pieces = conn.execute(
        text("""SELECT c.tenant_id, c.contract_id, c.gpu_model, c.start_s, c.end_s
                FROM unnest(CAST(:t AS text[]), CAST(:s AS bigint[]), CAST(:e AS bigint[])) AS p(tenant_id, s, e)
                JOIN gpu_coverage c ON c.tenant_id = p.tenant_id AND c.start_s < p.e AND c.start_s > p.s - :m
                                   AND c.end_s > p.s AND c.seq <= :w"""),
        {
            "t": list(cuts),
            "s": [c[0] for c in cuts.values()],
            "e": [c[-1] for c in cuts.values()],
            "m": MAX_INTERVAL_S + 1,
            "w": watermark,
        },
    ).all()
    by_tenant: dict[str, list] = {tenant: [] for tenant in cuts}
    for row in pieces:
        by_tenant[row.tenant_id].append(row)
    return {tenant: _gpu_totals(tenant, rows, cuts[tenant]) for tenant, rows in by_tenant.items()}


def _gpu_totals(tenant_id: str, pieces: list, cuts: list[int]) -> list[GpuRollupRow]:
    start, end = cuts[0], cuts[-1]
    totals: dict[tuple[str | None, str, int, int], int] = defaultdict(int)
    for _, contract_id, model, piece_start, piece_end in pieces:
        for low, high in split_at((max(piece_start, start), min(piece_end, end)), cuts):
            for hour, seconds in split((low, high), HOUR):
                totals[(contract_id, model, *_segment(max(hour, low), cuts))] += seconds
    return [GpuRollupRow.of(tenant_id, c, m, a, n, end=b) for (c, m, a, b), n in sorted(totals.items(), key=_key)]


def token_rows(
    conn: Connection, tenant_id: str, period: Span, tz: str, watermark: int, boundaries: Iterable[datetime] = ()
) -> list[TokenRollupRow]:
    """Tokens of events with event time in `period` and seq ≤ watermark, per contract, model, kind and
    stretch (an hour, cut at the rating `boundaries` like :func:`gpu_rows`)."""
    return token_rows_of(conn, [(tenant_id, tz, boundaries)], period, watermark)[tenant_id]


def token_rows_of(
    conn: Connection, tenants: list[tuple[str, str, Iterable[datetime]]], period: Span, watermark: int
) -> dict[str, list[TokenRollupRow]]:
    """:func:`token_rows` of many ``(tenant, timezone, rating boundaries)`` at once: one query, each
    tenant's events bucketed by its own cuts (passed as an array literal per tenant)."""
    cuts = {tenant: _cuts(period, tz, boundaries) for tenant, tz, boundaries in tenants}
    zones = {tenant: tz for tenant, tz, _ in tenants}
    rows = conn.execute(
        text("""SELECT tenant_id, contract_id, data->>'model' AS model, min(at) AS at,
                       sum((data->>'input_tokens')::bigint) AS input,
                       sum((data->>'output_tokens')::bigint) AS output,
                       sum((data->>'cached_tokens')::bigint) AS cached
                FROM (SELECT u.*, p.cuts, floor(extract(epoch FROM u.event_time))::bigint AS at
                      FROM unnest(CAST(:t AS text[]), CAST(:s AS timestamptz[]), CAST(:e AS timestamptz[]),
                                  CAST(:c AS text[])) AS p(tenant_id, s, e, cuts)
                      JOIN usage_events u ON u.tenant_id = p.tenant_id AND u.type = 'llm.tokens'
                        AND u.event_time >= p.s AND u.event_time < p.e AND u.seq <= :w) AS tokens
                GROUP BY tenant_id, contract_id, data->>'model', at / 3600,
                         width_bucket(at, CAST(cuts AS bigint[]))"""),
        {
            "t": list(cuts),
            "s": [period.start(zones[t]) for t in cuts],
            "e": [period.end(zones[t]) for t in cuts],
            "c": ["{" + ",".join(map(str, c)) + "}" for c in cuts.values()],
            "w": watermark,
        },
    ).all()
    by_tenant: dict[str, list] = {tenant: [] for tenant in cuts}
    for row in rows:
        by_tenant[row.tenant_id].append(row)
    return {tenant: _token_totals(tenant, found, cuts[tenant]) for tenant, found in by_tenant.items()}


def _token_totals(tenant_id: str, rows: list, cuts: list[int]) -> list[TokenRollupRow]:
    totals: dict[tuple[str | None, str, str, int, int], int] = defaultdict(int)
    for row in rows:
        segment = _segment(row.at, cuts)
        for kind in ("input", "output", "cached"):
            count = getattr(row, kind) or 0
            if count:
                totals[(row.contract_id, row.model, kind, *segment)] += int(count)
    return [
        TokenRollupRow.of(tenant_id, c, m, k, a, n, end=b)
        for (c, m, k, a, b), n in sorted(totals.items(), key=lambda t: (t[0][0] or "", *t[0][1:]))
    ]


def _key(item):
    (contract_id, model, start, end), _ = item
    return (contract_id or "", model, start, end)


def has_late_usage(conn: Connection, tenant_id: str, period: Span, tz: str, after: int, upto: int) -> bool:
    """Whether usage of `period` was persisted with seq in (after, upto]: a closed period to adjust."""
    return (tenant_id, 0) in late_usage_of(conn, [(tenant_id, period, tz, after)], upto)


def late_usage_of(conn: Connection, checks: list[tuple[str, Span, str, int]], upto: int) -> set[tuple[str, int]]:
    """:func:`has_late_usage` of many ``(tenant, closed period, timezone, its close's watermark)`` at
    once: the ``(tenant, index in checks)`` that did receive usage after that watermark (one query)."""
    wanted = [(n, check) for n, check in enumerate(checks) if upto > check[3]]
    if not wanted:
        return set()
    params = {
        "n": [n for n, _ in wanted],
        "t": [c[0] for _, c in wanted],
        "a": [c[3] for _, c in wanted],
        "ts": [c[1].start(c[2]) for _, c in wanted],
        "te": [c[1].end(c[2]) for _, c in wanted],
        "u": upto,
    }
    params["s"] = [int(at.timestamp()) for at in params["ts"]]
    params["e"] = [int(at.timestamp()) for at in params["te"]]
    rows = conn.execute(
        text("""SELECT p.n, p.tenant_id
                FROM unnest(CAST(:n AS int[]), CAST(:t AS text[]), CAST(:a AS bigint[]), CAST(:ts AS timestamptz[]),
                            CAST(:te AS timestamptz[]), CAST(:s AS bigint[]), CAST(:e AS bigint[]))
                       AS p(n, tenant_id, a, ts, te, s, e)
                WHERE EXISTS (SELECT 1 FROM gpu_coverage WHERE tenant_id = p.tenant_id AND seq > p.a AND seq <= :u
                              AND start_s < p.e AND end_s > p.s)
                   OR EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = p.tenant_id AND type = 'llm.tokens'
                              AND seq > p.a AND seq <= :u AND event_time >= p.ts AND event_time < p.te)"""),
        params,
    ).all()
    return {(row.tenant_id, row.n) for row in rows}
