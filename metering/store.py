"""Batch SQL for the usage log: COPY into a staging table, INSERT … ON CONFLICT, array upserts.

Every function takes a whole batch and costs a fixed number of round trips, never one per event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection

from kashi.db import raw
from metering import log, names
from metering.events import UsageRecord
from metering.fleet_store import record_fleet
from metering.rollups import Conflict, Covered, Piece, claim, gpu_rollup, token_rollup

INGEST_FENCE = 7_206_530_002
"""Advisory lock: recorders hold it shared; a month close takes it exclusively to read a watermark."""
MAX_INTERVAL_S = 24 * 3600

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_log_stage (
  ord int, event_time timestamptz, start_s bigint, input_tokens bigint, output_tokens bigint, cached_tokens bigint,
  source_no int, id_prefix_no int, tenant_no int, model_no int, gpu_no int, node_no int, contract_no int,
  span_s int, kind smallint, util_pct smallint, id_suffix text, utilization text, rest jsonb
) ON COMMIT DELETE ROWS
"""
_LOG_COLUMNS = ", ".join(log.COLUMNS)


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


def batch_number(conn: Connection, batch_id: str) -> int:
    """The batch's row in ``usage_batches`` (its id and when it was persisted, kept once per batch)."""
    pg = raw(conn)
    row = pg.execute(
        "INSERT INTO usage_batches (batch_id) VALUES (%s) ON CONFLICT (batch_id) DO NOTHING RETURNING no", (batch_id,)
    ).fetchone()
    return row[0] if row else pg.execute("SELECT no FROM usage_batches WHERE batch_id = %s", (batch_id,)).fetchone()[0]


def append_events(conn: Connection, batch_id: str, records: list[UsageRecord]) -> dict[tuple[str, str], int]:
    """Append the batch to the log (``usage_log``); return ``{(source, id): seq}`` of the rows that are new.

    The rows are copied into a session-local staging table and inserted in batch order with
    ``ON CONFLICT DO NOTHING`` on the dedup key: an event already logged, by this batch's earlier
    delivery or by any other batch, is left out and draws no seq."""
    splits = [log.split_id(r.id) for r in records]
    no = names.numbers(conn, {name for r, s in zip(records, splits, strict=True) for name in log.names_of(r, s[0])})
    batch_no = batch_number(conn, batch_id)
    keys = {}
    pg = raw(conn)
    with pg.cursor() as cur:
        cur.execute(_STAGE)
        cur.execute("DELETE FROM ingest_log_stage")  # an earlier batch of the same transaction
        with cur.copy(f"COPY ingest_log_stage (ord, {_LOG_COLUMNS}) FROM STDIN") as copy:
            for ord_, (r, split) in enumerate(zip(records, splits, strict=True)):
                row = log.encode(r, no, split)
                keys[(row[5], row[6], row[15])] = (r.source, r.id)
                rest = row[-1]
                copy.write_row((ord_, *row[:-1], None if rest is None else orjson.dumps(rest).decode()))
        cur.execute(
            f"""INSERT INTO usage_log (batch_no, {_LOG_COLUMNS})
               SELECT %s, {_LOG_COLUMNS} FROM ingest_log_stage ORDER BY ord
               ON CONFLICT (source_no, id_prefix_no, id_suffix) DO NOTHING
               RETURNING source_no, id_prefix_no, id_suffix, seq""",
            (batch_no,),
        )
        return {keys[(s, p, x)]: seq for s, p, x, seq in cur.fetchall()}


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
    gpu_no = names.numbers(conn, gpus)
    # A GPU's counted stretches are disjoint, so of those starting before ``lo`` only the last can
    # reach into the window: read it and the ones starting inside, two short index range scans.
    rows = (
        raw(conn)
        .execute(
            """SELECT w.gpu, c.start_s, c.end_s, c.tenant_id
           FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bigint[]) AS w(gpu, gpu_no, lo, hi)
           CROSS JOIN LATERAL (
             (SELECT start_s, end_s, tenant_id FROM gpu_coverage
              WHERE gpu_no = w.gpu_no AND start_s < w.lo ORDER BY start_s DESC LIMIT 1)
             UNION ALL
             (SELECT start_s, end_s, tenant_id FROM gpu_coverage
              WHERE gpu_no = w.gpu_no AND start_s >= w.lo AND start_s < w.hi)
           ) AS c
           WHERE c.end_s > w.lo""",
            (gpus, [gpu_no[g] for g in gpus], [window[g][0] for g in gpus], [window[g][1] for g in gpus]),
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
    gpu_no = names.numbers(conn, {p.gpu for p in pieces})
    with (
        raw(conn).cursor() as cur,
        cur.copy(
            "COPY gpu_coverage (gpu_no, start_s, end_s, seq, tenant_id, contract_id, gpu_model) FROM STDIN"
        ) as copy,
    ):
        for p in pieces:
            copy.write_row((gpu_no[p.gpu], p.start, p.end, p.seq, p.tenant_id, p.contract_id, p.gpu_model))


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


def read_log(conn: Connection, after: int, upto: int) -> list[tuple[int, UsageRecord]]:
    """The logged events with ``after < seq <= upto``, in seq order, as ``(seq, record)``: the record
    ingest built from the same event (replay folds them through the same steps). A range of seqs
    is one bitmap scan of the log's BRIN index on seq (the log is appended in seq order)."""
    cur = raw(conn).cursor(row_factory=namedtuple_row)
    cur.execute(f"SELECT seq, {_LOG_COLUMNS} FROM usage_log WHERE seq > %s AND seq <= %s ORDER BY seq", (after, upto))
    found = cur.fetchall()
    wanted = {
        n
        for row in found
        for n in (
            row.source_no,
            row.id_prefix_no,
            row.tenant_no,
            row.model_no,
            row.gpu_no,
            row.node_no,
            row.contract_no,
        )
    }
    name = names.names(conn, wanted).__getitem__
    return [(row.seq, log.record_of(row, name)) for row in found]


def log_top(conn: Connection) -> int:
    """The highest seq in the log visible to ``conn`` (0 when empty).

    The log has no b-tree on seq (a BRIN index serves ranges), so the maximum is looked for in a
    widening window below the sequence's last value: the newest rows sit there, a few pages."""
    pg = raw(conn)
    (last,) = pg.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence('usage_log', 'seq'))").fetchone()
    if last is None:
        return 0
    for window in (100_000, 10_000_000, None):
        if window is None:
            (top,) = pg.execute("SELECT max(seq) FROM usage_log").fetchone()
        else:
            (top,) = pg.execute("SELECT max(seq) FROM usage_log WHERE seq > %s", (last - window,)).fetchone()
        if top is not None:
            return top
    return 0
