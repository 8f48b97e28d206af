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
from metering.store import INGEST_FENCE, MAX_INTERVAL_S, log_top


class Span(Protocol):
    """A billing period as the queries see it: its bounds in a timezone (``billing.core.periods.Period``)."""

    def start(self, tz: str) -> datetime: ...

    def end(self, tz: str) -> datetime: ...


def read_watermark(engine: Engine) -> int:
    """The highest usage seq whose transaction has committed, fenced against in-flight recorders."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_FENCE})
        return log_top(conn)


def _hours(period: Span, tz: str) -> dict[str, int]:
    """The period as bounds on the token index's epoch hour (``:hs``, ``:he``, both inclusive)."""
    start, end = period.start(tz).timestamp(), period.end(tz).timestamp()
    return {"hs": int(start // HOUR), "he": int(-(-end // HOUR))}


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
        text("""SELECT con.name AS contract_id, mdl.name AS model, min(at) AS at,
                       sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cached_tokens) AS cached
                FROM (SELECT *, floor(extract(epoch FROM event_time))::bigint AS at FROM usage_log
                      WHERE tenant_no = (SELECT no FROM usage_names WHERE name = :t) AND kind = 2
                        AND kashi_epoch_hour(event_time) BETWEEN :hs AND :he
                        AND event_time >= :s AND event_time < :e AND seq <= :w) AS tokens
                JOIN usage_names mdl ON mdl.no = tokens.model_no
                LEFT JOIN usage_names con ON con.no = tokens.contract_no
                GROUP BY con.name, mdl.name, at / 3600, width_bucket(at, CAST(:cuts AS bigint[]))"""),
        {
            "t": tenant_id,
            "s": period.start(tz),
            "e": period.end(tz),
            "w": watermark,
            "cuts": cuts,
            **_hours(period, tz),
        },
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
                OR EXISTS (SELECT 1 FROM usage_log WHERE tenant_no = (SELECT no FROM usage_names WHERE name = :t)
                           AND kind = 2 AND kashi_epoch_hour(event_time) BETWEEN :hs AND :he
                           AND seq > :a AND seq <= :u AND event_time >= :ts AND event_time < :te)"""),
            {"t": tenant_id, "a": after, "u": upto, "s": s, "e": e, "ts": start, "te": end, **_hours(period, tz)},
        ).scalar()
    )
