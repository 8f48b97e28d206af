"""Batch SQL of the fleet's projections (SPEC §15): status runs, hourly rollups, the GPU registry.

`record_fleet` runs in the recording transaction of a batch (and of each replay chunk) after its
usage was claimed, under the same per-GPU advisory locks: a fixed number of round trips per batch.

- ``gpu_status_coverage``: each GPU's reported time as maximal runs of one state (`metering.status`);
- ``gpu_status_hourly`` (gpu, hour) and ``fleet_hourly`` (node, gpu_model, hour): reported, down,
  allocated seconds and busy card-seconds (Σ utilisation × allocated seconds);
- ``fleet_model_hourly`` (gpu_model, hour, shard): the same per model, the node hashed into one of
  `SHARDS` rows, so the fleet-wide report reads a few rows per hour and concurrent recorders of
  different nodes rarely wait on the same row;
- ``tenant_fleet_hourly`` (tenant, contract, gpu_model, hour): allocated, lit allocated (allocated
  while reported in a state other than down: what SLA availability counts), busy; ``last_seq`` is
  the newest event that changed the row (a closed period changed by a late event is found by it);
- ``fleet_gpus``: the registry — first report, last state (of the report ending last), retirement.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import Connection

from kashi.db import Int4s, Int8s, raw
from metering import names
from metering.events import UsageRecord
from metering.intervals import HOUR
from metering.rollups import Piece
from metering.status import (
    HourTotals,
    Stretch,
    TenantHour,
    claim_status,
    fleet_totals,
    fold_status,
    fold_usage,
    latest_reports,
    lit_hourly,
    lit_overlap,
    merge_runs,
)


def _windows(spans: Iterable[tuple[str, int, int]]) -> dict[str, list[int]]:
    window: dict[str, list[int]] = {}
    for gpu, start, end in spans:
        lo, hi = window.get(gpu, (start, end))
        window[gpu] = [min(lo, start), max(hi, end)]
    return window


def load_status(conn: Connection, spans: Iterable[tuple[str, int, int]]) -> dict[str, list[Stretch]]:
    """Each GPU's status runs touching ``[lo, hi]`` of its spans (touching: so new time can join them)."""
    return _load_runs(conn, _windows(spans))


def _load_runs(conn: Connection, window: Mapping[str, list[int]]) -> dict[str, list[Stretch]]:
    """Each GPU's status runs touching its window ``[lo, hi]``."""
    if not window:
        return {}
    gpus = list(window)
    rows = (
        raw(conn)
        .execute(
            """SELECT w.gpu, c.start_s, c.end_s, c.state
           FROM unnest(%b::text[], %b::bigint[], %b::bigint[]) AS w(gpu, lo, hi)
           CROSS JOIN LATERAL (
             (SELECT start_s, end_s, state FROM gpu_status_coverage
              WHERE gpu = w.gpu AND start_s < w.lo ORDER BY start_s DESC LIMIT 1)
             UNION ALL
             (SELECT start_s, end_s, state FROM gpu_status_coverage
              WHERE gpu = w.gpu AND start_s >= w.lo AND start_s <= w.hi)
           ) AS c
           WHERE c.end_s >= w.lo""",
            (gpus, Int8s([window[g][0] for g in gpus]), Int8s([window[g][1] for g in gpus])),
        )
        .fetchall()
    )
    found: dict[str, list[Stretch]] = defaultdict(list)
    for gpu, start, end, state in rows:
        found[gpu].append(Stretch(start, end, state))
    return found


def _hour_windows(cells: Iterable[tuple]) -> dict[str, list[int]]:
    """Per GPU of `fold_usage` cells, the whole hours they cover: a window holding each of its pieces."""
    window: dict[str, list[int]] = {}
    for gpu, _, _, _, _, hour in cells:
        w = window.get(gpu)
        if w is None:
            window[gpu] = [hour, hour + HOUR]
        elif hour < w[0]:
            w[0] = hour
        elif hour + HOUR > w[1]:
            w[1] = hour + HOUR
    return window


def _coverage(conn: Connection, spans: Iterable[tuple[str, int, int]]) -> dict[str, list[tuple]]:
    """Counted usage of each GPU overlapping its spans: (start, end, tenant, contract or "", model)."""
    window = _windows(spans)
    if not window:
        return {}
    gpus = list(window)
    gpu_no = names.numbers(conn, gpus)
    rows = (
        raw(conn)
        .execute(
            """SELECT w.gpu, c.start_s, c.end_s, c.tenant_id, coalesce(c.contract_id, ''), c.gpu_model
           FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bigint[]) AS w(gpu, gpu_no, lo, hi)
           CROSS JOIN LATERAL (
             (SELECT start_s, end_s, tenant_id, contract_id, gpu_model FROM gpu_coverage
              WHERE gpu_no = w.gpu_no AND start_s < w.lo ORDER BY start_s DESC LIMIT 1)
             UNION ALL
             (SELECT start_s, end_s, tenant_id, contract_id, gpu_model FROM gpu_coverage
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
    found: dict[str, list[tuple]] = defaultdict(list)
    for gpu, *rest in rows:
        found[gpu].append(tuple(rest))
    return found


def _replace_runs(conn: Connection, loaded: Mapping[str, list[Stretch]], pieces: list) -> None:
    """Rewrite the touched runs of each GPU as the maximal runs of the old and new time."""
    new: dict[str, list[Stretch]] = defaultdict(list)
    for p in pieces:
        new[p.gpu].append(Stretch(p.start, p.end, p.state))
    gone = [(gpu, s.start) for gpu in new for s in loaded.get(gpu, ())]
    runs = [(gpu, s) for gpu in sorted(new) for s in merge_runs([*loaded.get(gpu, ()), *new[gpu]])]
    pg = raw(conn)
    if gone:
        pg.execute(
            """DELETE FROM gpu_status_coverage c USING unnest(%b::text[], %b::bigint[]) AS g(gpu, start_s)
                      WHERE c.gpu = g.gpu AND c.start_s = g.start_s""",
            ([g for g, _ in gone], Int8s([s for _, s in gone])),
        )
    with (
        pg.cursor() as cur,
        cur.copy("COPY gpu_status_coverage (gpu, start_s, end_s, state) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(("text", "int8", "int8", "text"))
        for gpu, s in runs:
            copy.write_row((gpu, s.start, s.end, s.state))


SHARDS = 16


def shard_of(node: str) -> int:
    """A node's stable shard of ``fleet_model_hourly`` (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(node.encode(), digest_size=2).digest(), "big") % SHARDS


def _add_hourly(
    conn: Connection,
    table: str,
    keys: tuple[str, ...],
    totals: Mapping[tuple, HourTotals],
    types: tuple[str, ...] | None = None,
) -> None:
    if not totals:
        return
    ordered = sorted(totals)
    types = types or ("text",) * (len(keys) - 1) + ("bigint",)
    packed = {"bigint": Int8s, "int": Int4s, "integer": Int4s}
    columns = [packed.get(types[i], list)(k[i] for k in ordered) for i in range(len(keys))]
    unnest = ", ".join(f"%b::{t}[]" for t in types)
    raw(conn).execute(
        f"""INSERT INTO {table} ({", ".join(keys)}, reported_s, down_s, allocated_s, busy_s, status_busy_s)
            SELECT * FROM unnest({unnest}, %b::bigint[], %b::bigint[], %b::bigint[], %b::numeric[], %b::numeric[])
            ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
              reported_s = {table}.reported_s + EXCLUDED.reported_s, down_s = {table}.down_s + EXCLUDED.down_s,
              allocated_s = {table}.allocated_s + EXCLUDED.allocated_s, busy_s = {table}.busy_s + EXCLUDED.busy_s,
              status_busy_s = {table}.status_busy_s + EXCLUDED.status_busy_s""",
        (
            *columns,
            Int8s([totals[k].reported for k in ordered]),
            Int8s([totals[k].down for k in ordered]),
            Int8s([totals[k].allocated for k in ordered]),
            [totals[k].busy for k in ordered],
            [totals[k].status_busy for k in ordered],
        ),
    )


def _add_tenant(conn: Connection, usage: Mapping[tuple, TenantHour], lit: Mapping[tuple, tuple[int, int]]) -> None:
    keys = sorted(set(usage) | set(lit))
    if not keys:
        return
    none = TenantHour(0, Decimal(0), 0)
    used = [usage.get(k, none) for k in keys]
    lits = [lit.get(k, (0, 0)) for k in keys]
    raw(conn).execute(
        """INSERT INTO tenant_fleet_hourly (tenant_id, contract_id, gpu_model, hour, allocated_s, lit_allocated_s,
                                            busy_s, last_seq)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],
                                %b::numeric[], %b::bigint[])
           ON CONFLICT (tenant_id, contract_id, gpu_model, hour) DO UPDATE SET
             allocated_s = tenant_fleet_hourly.allocated_s + EXCLUDED.allocated_s,
             lit_allocated_s = tenant_fleet_hourly.lit_allocated_s + EXCLUDED.lit_allocated_s,
             busy_s = tenant_fleet_hourly.busy_s + EXCLUDED.busy_s,
             last_seq = greatest(tenant_fleet_hourly.last_seq, EXCLUDED.last_seq)""",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            Int8s([k[3] for k in keys]),
            Int8s([u.allocated for u in used]),
            Int8s([lt[0] for lt in lits]),
            [u.busy for u in used],
            Int8s([max(u.seq, lt[1]) for u, lt in zip(used, lits, strict=True)]),
        ),
    )


def _upsert_registry(conn: Connection, latest: Mapping[str, dict]) -> None:
    if not latest:
        return
    gpus = sorted(latest)
    rows = [latest[g] for g in gpus]
    raw(conn).execute(
        """INSERT INTO fleet_gpus (gpu, node, gpu_model, first_seen_s, last_state, last_reason, last_start_s,
                                   last_end_s, last_seq)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[],
                                %b::bigint[], %b::bigint[], %b::bigint[])
           ON CONFLICT (gpu) DO UPDATE SET
             first_seen_s = least(fleet_gpus.first_seen_s, EXCLUDED.first_seen_s),
             node = CASE WHEN newer THEN EXCLUDED.node ELSE fleet_gpus.node END,
             gpu_model = CASE WHEN newer THEN EXCLUDED.gpu_model ELSE fleet_gpus.gpu_model END,
             last_state = CASE WHEN newer THEN EXCLUDED.last_state ELSE fleet_gpus.last_state END,
             last_reason = CASE WHEN newer THEN EXCLUDED.last_reason ELSE fleet_gpus.last_reason END,
             last_start_s = CASE WHEN newer THEN EXCLUDED.last_start_s ELSE fleet_gpus.last_start_s END,
             last_end_s = CASE WHEN newer THEN EXCLUDED.last_end_s ELSE fleet_gpus.last_end_s END,
             last_seq = CASE WHEN newer THEN EXCLUDED.last_seq ELSE fleet_gpus.last_seq END""".replace(
            "newer", "(EXCLUDED.last_end_s, EXCLUDED.last_seq) > (fleet_gpus.last_end_s, fleet_gpus.last_seq)"
        ),
        (
            gpus,
            [r["node"] for r in rows],
            [r["gpu_model"] for r in rows],
            [r["first"] for r in rows],
            [r["state"] for r in rows],
            [r["reason"] for r in rows],
            [r["start"] for r in rows],
            [r["end"] for r in rows],
            [r["seq"] for r in rows],
        ),
    )


def record_fleet(
    conn: Connection,
    usage_pieces: list[Piece],
    usage_records: Mapping[int, UsageRecord],
    status_new: list[tuple[int, UsageRecord]],
) -> int:
    """Fold a batch's new usage pieces (already inserted into ``gpu_coverage``) and new status
    events into the fleet's projections; returns the status card-seconds newly reported.

    Each piece is split at hours once (`metering.status.fold_usage`, `fold_status`) and every rollup
    row is summed from those cells (`fleet_totals`). Everything is computed first and each shared
    rollup is written once, tables in one order and rows in key order, so two recorders touching the
    same node or model rows never deadlock."""
    overlaps: list[tuple[tuple[str, str, str], int, int, int]] = []
    usage = fold_usage(usage_pieces, usage_records) if usage_pieces else {}
    if usage:  # usage against the status known before this batch's status (counted below)
        known = _load_runs(conn, _hour_windows(usage))
        if known:
            for p in usage_pieces:
                runs = known.get(p.gpu)
                if runs:
                    for start, end in lit_overlap(p.start, p.end, runs):
                        overlaps.append(((p.tenant_id, p.contract_id or "", p.gpu_model), start, end, p.seq))
    status: dict[tuple, list] = {}
    reported = 0
    if status_new:
        loaded = load_status(conn, ((r.gpu, r.start, r.end) for _, r in status_new))
        pieces = claim_status(status_new, loaded)
        _replace_runs(conn, loaded, pieces)  # per GPU: under the GPU locks the batch holds
        status = fold_status(pieces)
        lit = [p for p in pieces if p.state != "down"]
        covered = _coverage(conn, ((p.gpu, p.start, p.end) for p in lit))
        for p in lit:
            for start, end, tenant, contract, model in covered.get(p.gpu, ()):
                if start < p.end and end > p.start:
                    overlaps.append(((tenant, contract, model), max(start, p.start), min(end, p.end), p.seq))
        reported = sum(p.end - p.start for p in pieces)
    totals = fleet_totals(usage, status, shard_of)
    _add_hourly(conn, "gpu_status_hourly", ("gpu", "hour"), totals.by_gpu)
    _add_hourly(conn, "fleet_hourly", ("node", "gpu_model", "hour"), totals.by_node)
    _add_hourly(
        conn, "fleet_model_hourly", ("gpu_model", "hour", "shard"), totals.by_model, ("text", "bigint", "smallint")
    )
    _add_tenant(conn, totals.by_tenant, lit_hourly(overlaps))
    if status_new:
        _upsert_registry(conn, latest_reports(status_new))
    return reported
