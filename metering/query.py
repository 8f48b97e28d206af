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

from metering.hourly import GpuRollupRow, TokenRollupRow
from metering.intervals import HOUR, split, split_at
from metering.store import INGEST_FENCE, MAX_INTERVAL_S


class Span(Protocol):
    """A billing period as the queries see it: its bounds in a timezone (``billing.core.periods.Period``)."""

    def start(self, tz: str) -> datetime: ...

    def end(self, tz: str) -> datetime: ...


def read_watermark(engine: Engine) -> int:
    """The highest usage seq whose transaction has committed, fenced against in-flight recorders."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_FENCE})
        return conn.execute(text("SELECT coalesce(max(seq), 0) FROM usage_events")).scalar_one()


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
    cuts = _cuts(period, tz, boundaries)
    start, end = cuts[0], cuts[-1]
    pieces = conn.execute(
        text("""SELECT contract_id, gpu_model, start_s, end_s FROM gpu_coverage
                WHERE tenant_id = :t AND start_s < :e AND start_s > :s - :m AND end_s > :s AND seq <= :w"""),
        {"t": tenant_id, "s": start, "e": end, "m": MAX_INTERVAL_S + 1, "w": watermark},
    ).all()
    totals: dict[tuple[str | None, str, int, int], int] = defaultdict(int)
    for contract_id, model, piece_start, piece_end in pieces:
        for low, high in split_at((max(piece_start, start), min(piece_end, end)), cuts):
            for hour, seconds in split((low, high), HOUR):
                totals[(contract_id, model, *_segment(max(hour, low), cuts))] += seconds
    return [GpuRollupRow.of(tenant_id, c, m, a, n, end=b) for (c, m, a, b), n in sorted(totals.items(), key=_key)]


def token_rows(
    conn: Connection, tenant_id: str, period: Span, tz: str, watermark: int, boundaries: Iterable[datetime] = ()
) -> list[TokenRollupRow]:
    """Tokens of events with event time in `period` and seq ≤ watermark, per contract, model, kind and
    stretch (an hour, cut at the rating `boundaries` like :func:`gpu_rows`)."""
    cuts = _cuts(period, tz, boundaries)
    rows = conn.execute(
        text("""SELECT contract_id, data->>'model' AS model, min(at) AS at,
                       sum((data->>'input_tokens')::bigint) AS input,
                       sum((data->>'output_tokens')::bigint) AS output,
                       sum((data->>'cached_tokens')::bigint) AS cached
                FROM (SELECT *, floor(extract(epoch FROM event_time))::bigint AS at FROM usage_events
                      WHERE tenant_id = :t AND type = 'llm.tokens'
                        AND event_time >= :s AND event_time < :e AND seq <= :w) AS tokens
                GROUP BY contract_id, data->>'model', at / 3600, width_bucket(at, CAST(:cuts AS bigint[]))"""),
        {"t": tenant_id, "s": period.start(tz), "e": period.end(tz), "w": watermark, "cuts": cuts},
    ).all()
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
    if upto <= after:
        return False
    start, end = period.start(tz), period.end(tz)
    s, e = int(start.timestamp()), int(end.timestamp())
    return bool(
        conn.execute(
            text("""SELECT EXISTS (SELECT 1 FROM gpu_coverage WHERE tenant_id = :t AND seq > :a AND seq <= :u
                                AND start_s < :e AND end_s > :s)
                OR EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = :t AND type = 'llm.tokens'
                           AND seq > :a AND seq <= :u AND event_time >= :ts AND event_time < :te)"""),
            {"t": tenant_id, "a": after, "u": upto, "s": s, "e": e, "ts": start, "te": end},
        ).scalar()
    )


def late_totals(conn: Connection, tenant_id: str, period: Span, tz: str, after: int) -> dict:
    """Usage of `period` persisted after log position `after` (a close's watermark): card-seconds
    newly counted inside the period, tokens by event time, and how many events brought them."""
    start, end = period.start(tz), period.end(tz)
    s, e = int(start.timestamp()), int(end.timestamp())
    gpu = conn.execute(
        text("""SELECT coalesce(sum(least(end_s, :e) - greatest(start_s, :s)), 0) AS seconds,
                       count(DISTINCT seq) AS events, min(seq) AS first_seq
                FROM gpu_coverage WHERE tenant_id = :t AND seq > :a AND start_s < :e AND end_s > :s"""),
        {"t": tenant_id, "a": after, "s": s, "e": e},
    ).one()
    tokens = conn.execute(
        text("""SELECT coalesce(sum(coalesce((data->>'input_tokens')::bigint, 0)
                                  + coalesce((data->>'output_tokens')::bigint, 0)
                                  + coalesce((data->>'cached_tokens')::bigint, 0)), 0) AS tokens,
                       count(*) AS events
                FROM usage_events WHERE tenant_id = :t AND type = 'llm.tokens' AND seq > :a
                  AND event_time >= :ts AND event_time < :te"""),
        {"t": tenant_id, "a": after, "ts": start, "te": end},
    ).one()
    return {"card_seconds": int(gpu.seconds), "tokens": int(tokens.tokens), "events": gpu.events + tokens.events}
