"""Batch SQL for the usage log: a key lookup, COPY straight into the log, array upserts.

Every function takes a whole batch and costs a fixed number of round trips, never one per event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import orjson
import psycopg.errors
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import Connection

from kashi.db import Int4s, Int8s, raw
from metering import log, names
from metering.events import UsageRecord
from metering.fleet_store import record_fleet
from metering.rollups import Conflict, Covered, Piece, claim, gpu_rollup, token_rollup

INGEST_FENCE = 7_206_530_002
"""Advisory lock: recorders hold it shared; a month close takes it exclusively to read a watermark."""
MAX_INTERVAL_S = 24 * 3600

_LOG_COLUMNS = ", ".join(log.COLUMNS)
_LOG_TYPES = ("int8", "int4", *(log.COLUMN_TYPES[c] for c in log.COLUMNS))
"""The binary COPY's types of seq, batch_no and :data:`metering.log.COLUMNS` (binary: the client formats
nothing as text, a sixth of the CPU per row)."""


@dataclass(frozen=True)
class Recorded:
    """What one batch changed: new events, their new card-seconds, and conflicts found."""

    events: int
    duplicates: int
    card_seconds: int
    conflicts: int


@lru_cache(maxsize=1 << 16)
def gpu_lock_key(gpu: str) -> int:
    """A stable signed 64-bit advisory-lock key for one GPU."""
    return int.from_bytes(hashlib.blake2b(gpu.encode(), digest_size=8).digest(), "big", signed=True)


def batch_numbers(conn: Connection, batch_ids: list[str]) -> dict[str, int]:
    """Each batch's row in ``usage_batches`` (its id and when it was persisted, kept once per batch)."""
    pg = raw(conn)
    pg.execute(
        "INSERT INTO usage_batches (batch_id) SELECT unnest(%b::text[]) ORDER BY 1 ON CONFLICT (batch_id) DO NOTHING",
        (batch_ids,),
    )
    return dict(pg.execute("SELECT batch_id, no FROM usage_batches WHERE batch_id = ANY(%b::text[])", (batch_ids,)))


LOG_KEY = "ux_usage_log_key"
"""The log's dedup key: a COPY that meets it lost a race with another recorder (:class:`LostRace`)."""


class LostRace(Exception):
    """Another recorder logged one of these events after this one looked it up: redo the transaction."""


def append_events(
    conn: Connection, batches: Sequence[tuple[str, list[UsageRecord]]]
) -> list[tuple[int, int, UsageRecord]]:
    """Append batches to the log (``usage_log``) in order; return ``(seq, batch index, record)`` of
    each event new to the log, in seq order.

    An event already logged (resent, or its batch redelivered) or met earlier in these batches is
    left out and draws no seq. The keys are looked up first (one index probe each), seqs drawn for
    the new rows, and the rows COPYed straight into the log. An event another recorder logs in the
    meantime makes the COPY meet the unique key: :class:`LostRace` is raised, the caller rolls back
    and records again (the lookup then finds it)."""
    first: dict[tuple[str, str], tuple[int, UsageRecord]] = {}
    for index, (_, records) in enumerate(batches):
        for r in records:
            if (r.source, r.id) not in first:
                first[(r.source, r.id)] = (index, r)
    wanted: set[str] = set()
    add, split_id, names_of = wanted.update, log.split_id, log.names_of
    splits = []
    for _, r in first.values():
        split = split_id(r.id)
        splits.append(split)
        add(names_of(r, split[0]))
    no = names.numbers(conn, wanted)
    batch_no = batch_numbers(conn, [batch_id for batch_id, _ in batches])
    numbers = [batch_no[batch_id] for batch_id, _ in batches]
    candidates = {
        (no[r.source], no[split[0]], split[1]): (numbers[index], index, r, split)
        for (index, r), split in zip(first.values(), splits, strict=True)
    }
    pg = raw(conn)
    logged = pg.execute(
        """SELECT k.s, k.p, k.x FROM unnest(%b::int[], %b::int[], %b::text[]) AS k(s, p, x)
           WHERE EXISTS (SELECT FROM usage_log l
                         WHERE l.source_no = k.s AND l.id_prefix_no = k.p AND l.id_suffix = k.x)""",
        (Int4s([k[0] for k in candidates]), Int4s([k[1] for k in candidates]), [k[2] for k in candidates]),
    ).fetchall()
    for key in logged:
        del candidates[key]
    if not candidates:
        return []
    seqs = _draw_seqs(pg, len(candidates))
    new = []
    try:
        with (
            pg.cursor() as cur,
            cur.copy(f"COPY usage_log (seq, batch_no, {_LOG_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(_LOG_TYPES)
            for seq, (batch, index, r, split) in zip(seqs, candidates.values(), strict=True):
                row = log.encode(r, no, split)
                rest = row[-1]
                copy.write_row((seq, batch, *row[:-1], None if rest is None else Jsonb(rest, orjson.dumps)))
                new.append((seq, index, r))
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == LOG_KEY:
            raise LostRace(str(exc)) from exc
        raise
    return new


def _draw_seqs(pg, n: int) -> Iterable[int]:
    """``n`` new log positions, ascending: a contiguous range when no other recorder drew meanwhile."""
    low, high, values = pg.execute(
        """SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 <> count(*) THEN array_agg(v ORDER BY v) END
           FROM (SELECT nextval('usage_log_seq_seq') FROM generate_series(1, %s)) AS s(v)""",
        (n,),
    ).fetchone()
    return range(low, high + 1) if values is None else values


def lock_gpus(conn: Connection, gpus: Iterable[str]) -> None:
    """Serialise writers of the same GPUs (taken in one sorted order, so never a deadlock)."""
    keys = sorted({gpu_lock_key(g) for g in gpus})
    if keys:
        raw(conn).execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%b::bigint[]) AS k", (Int8s(keys),))


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
            (
                gpus,
                Int4s([gpu_no[g] for g in gpus]),
                Int8s([window[g][0] for g in gpus]),
                Int8s([window[g][1] for g in gpus]),
            ),
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
            "COPY gpu_coverage (gpu_no, start_s, end_s, seq, tenant_id, contract_id, gpu_model)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(("int4", "int8", "int8", "int8", "text", "text", "text"))
        for p in pieces:
            copy.write_row((gpu_no[p.gpu], p.start, p.end, p.seq, p.tenant_id, p.contract_id, p.gpu_model))


def insert_conflicts(conn: Connection, conflicts: list[Conflict]) -> None:
    if not conflicts:
        return
    with (
        raw(conn).cursor() as cur,
        cur.copy(
            "COPY usage_conflicts (seq, gpu, start_s, end_s, tenant_id, holder_tenant_id) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(("int8", "text", "int8", "int8", "text", "text"))
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
            Int8s([k[3] for k in keys]),
            Int8s([totals[k] for k in keys]),
        ),
    )


def add_token_rollups(conn: Connection, totals: dict[tuple, list[int]]) -> None:
    """Add tokens to ``token_hourly`` (rows in key order)."""
    if not totals:
        return
    keys = sorted(totals)
    counts = [totals[k] for k in keys]
    raw(conn).execute(
        """INSERT INTO token_hourly (tenant_id, contract_id, model, hour, input_tokens, output_tokens, cached_tokens)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],
                                %b::bigint[])
           ON CONFLICT (tenant_id, contract_id, model, hour) DO UPDATE
           SET input_tokens = token_hourly.input_tokens + EXCLUDED.input_tokens,
               output_tokens = token_hourly.output_tokens + EXCLUDED.output_tokens,
               cached_tokens = token_hourly.cached_tokens + EXCLUDED.cached_tokens""",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            Int8s([k[3] for k in keys]),
            Int8s([c[0] for c in counts]),
            Int8s([c[1] for c in counts]),
            Int8s([c[2] for c in counts]),
        ),
    )


def record_batches(conn: Connection, batches: Sequence[tuple[str, list[UsageRecord]]]) -> list[Recorded]:
    """Persist validated batches in the caller's transaction, in order: log, coverage, conflicts,
    rollups; what each batch changed.

    A redelivered batch (or a resent event) finds its ``(source, id)`` already in the log and
    changes nothing; overlapping GPU time is counted once, for the event persisted first. Several
    batches recorded together fold into the same rollup rows: one upsert per row for all of them.
    """
    raw(conn).execute("SELECT pg_advisory_xact_lock_shared(%s)", (INGEST_FENCE,))
    # GPU locks before the log positions are drawn: two batches touching one GPU then get their
    # seqs in the order they claim its time, so a replay in seq order claims it the same way.
    lock_gpus(conn, (r.gpu for _, records in batches for r in records if r.kind in ("gpu", "status")))
    new = append_events(conn, batches)
    batch_of = {seq: index for seq, index, _ in new}
    gpu_new = [(seq, r) for seq, _, r in new if r.kind == "gpu"]
    pieces: list[Piece] = []
    conflicts: list[Conflict] = []
    if gpu_new:
        covered = load_coverage(conn, [r for _, r in gpu_new])
        pieces, conflicts = claim(gpu_new, covered)
        insert_pieces(conn, pieces)
        insert_conflicts(conn, conflicts)
        add_gpu_rollups(conn, gpu_rollup(pieces))
    add_token_rollups(conn, token_rollup(r for _, _, r in new if r.kind == "tokens"))
    status_new = [(seq, r) for seq, _, r in new if r.kind == "status"]
    if pieces or status_new:
        record_fleet(conn, pieces, dict(gpu_new), status_new)
    events, seconds, clashes = [0] * len(batches), [0] * len(batches), [0] * len(batches)
    for _, index, _ in new:
        events[index] += 1
    for p in pieces:
        seconds[batch_of[p.seq]] += p.end - p.start
    for c in conflicts:
        clashes[batch_of[c.seq]] += 1
    return [
        Recorded(events=events[i], duplicates=len(records) - events[i], card_seconds=seconds[i], conflicts=clashes[i])
        for i, (_, records) in enumerate(batches)
    ]


def record_batch(conn: Connection, batch_id: str, records: list[UsageRecord]) -> Recorded:
    """:func:`record_batches` of one batch."""
    return record_batches(conn, [(batch_id, records)])[0]


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
