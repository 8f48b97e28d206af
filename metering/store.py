"""Batch SQL for the usage log: COPY into a staging table, INSERT … ON CONFLICT, array upserts.

Every function takes a whole batch and costs a fixed number of round trips, never one per event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection

from kashi.db import raw
from metering.events import UsageRecord
from metering.fleet_store import record_fleet
from metering.rollups import Conflict, Covered, Piece, claim, gpu_rollup, token_rollup

_TYPES = {"gpu": "gpu.usage", "tokens": "llm.tokens", "status": "gpu.status"}
INGEST_FENCE = 7_206_530_002
"""Advisory lock: recorders hold it shared; a month close takes it exclusively to read a watermark."""
MAX_INTERVAL_S = 24 * 3600

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
  ord int, source text, id text, type text, tenant_id text, contract_id text,
  event_time timestamptz, data text
) ON COMMIT DELETE ROWS
"""


@dataclass(frozen=True)
class Recorded:
    """What one batch changed: new events, their new card-seconds, and conflicts found."""

    events: int
    duplicates: int
    card_seconds: int
    conflicts: int


def gpu_lock_key(gpu: str) -> int:
    """A stable signed 64-bit advisory-lock key for one GPU."""
    return int.from_bytes(hashlib.blake2b(gpu.encode(), digest_size=8).digest(), "big", signed=True)


def append_events(conn: Connection, batch_id: str, records: list[UsageRecord]) -> dict[tuple[str, str], int]:
    """Append the batch to ``usage_events``; return ``{(source, id): seq}`` of the rows that are new."""
    pg = raw(conn)
    with pg.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy("COPY ingest_stage FROM STDIN") as copy:
            for ord_, r in enumerate(records):
                copy.write_row(
                    (
                        ord_,
                        r.source,
                        r.id,
                        _TYPES[r.kind],
                        r.tenant_id,
                        r.contract_id,
                        datetime.fromtimestamp(r.time, UTC),
                        orjson.dumps(r.data).decode(),
                    )
                )
        cur.execute(
            """INSERT INTO usage_events (source, id, type, tenant_id, contract_id, event_time, batch_id, data)
               SELECT source, id, type, tenant_id, contract_id, event_time, %s, data::jsonb
               FROM ingest_stage ORDER BY ord
               ON CONFLICT (source, id) DO NOTHING
               RETURNING source, id, seq""",
            (batch_id,),
        )
        return {(s, i): seq for s, i, seq in cur.fetchall()}


def lock_gpus(conn: Connection, gpus: Iterable[str]) -> None:
    """Serialise writers of the same GPUs (taken in one sorted order, so never a deadlock)."""
    keys = sorted({gpu_lock_key(g) for g in gpus})
    if keys:
        raw(conn).execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%b::bigint[]) AS k", (keys,))


def load_coverage(conn: Connection, records: list[UsageRecord]) -> dict[str, list[Covered]]:
    """Already-counted stretches of each GPU that may overlap the records."""
    window: dict[str, list[int]] = {}
    for r in records:
        lo, hi = window.get(r.gpu, (r.start, r.end))
        window[r.gpu] = [min(lo, r.start), max(hi, r.end)]
    if not window:
        return {}
    gpus = list(window)
    # A GPU's counted stretches are disjoint, so of those starting before ``lo`` only the last can
    # reach into the window: read it and the ones starting inside, two short index range scans.
    rows = (
        raw(conn)
        .execute(
            """SELECT w.gpu, c.start_s, c.end_s, c.tenant_id
           FROM unnest(%b::text[], %b::bigint[], %b::bigint[]) AS w(gpu, lo, hi)
           CROSS JOIN LATERAL (
             (SELECT start_s, end_s, tenant_id FROM gpu_coverage
              WHERE gpu = w.gpu AND start_s < w.lo ORDER BY start_s DESC LIMIT 1)
             UNION ALL
             (SELECT start_s, end_s, tenant_id FROM gpu_coverage
              WHERE gpu = w.gpu AND start_s >= w.lo AND start_s < w.hi)
           ) AS c
           WHERE c.end_s > w.lo""",
            (gpus, [window[g][0] for g in gpus], [window[g][1] for g in gpus]),
        )
        .fetchall()
    )
    covered: dict[str, list[Covered]] = defaultdict(list)
    for gpu, start, end, tenant in rows:
        covered[gpu].append(Covered(start, end, tenant))
    return covered


def insert_pieces(conn: Connection, pieces: list[Piece]) -> None:
    if not pieces:
        return
    with (
        raw(conn).cursor() as cur,
        cur.copy("COPY gpu_coverage (gpu, start_s, end_s, seq, tenant_id, contract_id, gpu_model) FROM STDIN") as copy,
    ):
        for p in pieces:
            copy.write_row((p.gpu, p.start, p.end, p.seq, p.tenant_id, p.contract_id, p.gpu_model))


def insert_conflicts(conn: Connection, conflicts: list[Conflict]) -> None:
    if not conflicts:
        return
    with (
        raw(conn).cursor() as cur,
        cur.copy("COPY usage_conflicts (seq, gpu, start_s, end_s, tenant_id, holder_tenant_id) FROM STDIN") as copy,
    ):
        for c in conflicts:
            copy.write_row((c.seq, c.gpu, c.start, c.end, c.tenant_id, c.holder_tenant_id))


def add_gpu_rollups(conn: Connection, totals: dict[tuple, int]) -> None:
    """Add card-seconds to ``gpu_hourly`` (rows in key order, so concurrent writers never deadlock)."""
    if not totals:
        return
    keys = sorted(totals)
    raw(conn).execute(
        """INSERT INTO gpu_hourly (tenant_id, contract_id, gpu_model, hour, card_seconds)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[])
           ON CONFLICT (tenant_id, contract_id, gpu_model, hour)
           DO UPDATE SET card_seconds = gpu_hourly.card_seconds + EXCLUDED.card_seconds""",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [k[3] for k in keys],
            [totals[k] for k in keys],
        ),
    )


def add_token_rollups(conn: Connection, totals: dict[tuple, int]) -> None:
    """Add tokens to ``token_hourly`` (rows in key order)."""
    if not totals:
        return
    keys = sorted(totals)
    raw(conn).execute(
        """INSERT INTO token_hourly (tenant_id, contract_id, model, kind, hour, tokens)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[])
           ON CONFLICT (tenant_id, contract_id, model, kind, hour)
           DO UPDATE SET tokens = token_hourly.tokens + EXCLUDED.tokens""",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [k[3] for k in keys],
            [k[4] for k in keys],
            [totals[k] for k in keys],
        ),
    )


def record_batch(conn: Connection, batch_id: str, records: list[UsageRecord]) -> Recorded:
    """Persist a validated batch in the caller's transaction: log, coverage, conflicts, rollups.

    A redelivered batch (or a resent event) finds its ``(source, id)`` already in the log and
    changes nothing; overlapping GPU time is counted once, for the event persisted first.
    """
    raw(conn).execute("SELECT pg_advisory_xact_lock_shared(%s)", (INGEST_FENCE,))
    # GPU locks before the log positions are drawn: two batches touching one GPU then get their
    # seqs in the order they claim its time, so a replay in seq order claims it the same way.
    lock_gpus(conn, (r.gpu for r in records if r.kind in ("gpu", "status")))
    seqs = append_events(conn, batch_id, records)
    new = [(seqs[(r.source, r.id)], r) for r in records if (r.source, r.id) in seqs]
    gpu_new = [(seq, r) for seq, r in new if r.kind == "gpu"]
    pieces: list[Piece] = []
    conflicts: list[Conflict] = []
    if gpu_new:
        covered = load_coverage(conn, [r for _, r in gpu_new])
        pieces, conflicts = claim(gpu_new, covered)
        insert_pieces(conn, pieces)
        insert_conflicts(conn, conflicts)
        add_gpu_rollups(conn, gpu_rollup(pieces))
    add_token_rollups(conn, token_rollup(r for _, r in new if r.kind == "tokens"))
    status_new = [(seq, r) for seq, r in new if r.kind == "status"]
    if pieces or status_new:
        record_fleet(conn, pieces, dict(gpu_new), status_new)
    return Recorded(
        events=len(new),
        duplicates=len(records) - len(new),
        card_seconds=sum(p.end - p.start for p in pieces),
        conflicts=len(conflicts),
    )
