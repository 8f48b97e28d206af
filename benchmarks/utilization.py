"""Utilisation benchmark (issue 15): the fleet report answers from rollups, whatever the event count.

    python benchmarks/utilization.py                          # record 64 GPUs x 1 day, then 1,000 and 10,000 GPUs
    python benchmarks/utilization.py --gpus 64 --hours 24 --fleets 1000 10000

Two parts, on the embedded PostgreSQL under a temporary data dir, migrated:

1. **The recording path, at a small scale.** `--gpus` GPUs (8 per node) each send a `gpu.status`
   every minute for `--hours` hours (and `gpu.usage` for the minutes they are held: 5 of 8 GPUs),
   validated by `metering.events.validate_batch` and recorded by `metering.store.record_batch` —
   what the ingest worker runs, in batches of 5,000 events. Printed: events/s, and the rows the
   fleet's projections hold afterwards: a GPU reporting every minute in one state keeps one status
   run, and a GPU-hour is one row of `gpu_status_hourly` and one of `fleet_hourly` per node and model
   however many windows it had. So the report's input grows with nodes × models × hours, not events.
2. **The report at full scale.** For each `--fleets` size, a month (2031-03, 2031-04, …) of rollups
   with exactly the shape the recording path writes — one `fleet_hourly` row per node (8 GPUs),
   model and hour, their sums in `fleet_model_hourly` (16 shards per model and hour), one
   `tenant_fleet_hourly` row per tenant, model and hour (one tenant per 50
   GPUs), one `fleet_gpus` row per GPU — is seeded with SQL (`generate_series`; 10,000 GPUs with
   1-minute windows would be 446 M status events, which the rollups are the point of not
   replaying), and `billing.services.utilization.report` is timed per grouping (median of 5 runs),
   as is `pack` (every grouping and the node × day heat-map, what xlsx and png render).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from billing.core.periods import Period
from billing.services import utilization
from kashi.db import make_engine
from kashi.migrate import upgrade
from kashi.servers import resolve
from kashi.settings import Settings
from metering.events import validate_batch
from metering.store import record_batch

MODELS = ("H100-SXM", "H20", "Ascend-910B", "RTX-4090")
START = datetime(2030, 12, 31, 16, tzinfo=UTC)  # 2031-01-01T00:00+08:00


def _z(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _window_events(gpus: int, minute: int) -> list[dict]:
    start, end = START + timedelta(minutes=minute), START + timedelta(minutes=minute + 1)
    events = []
    for g in range(gpus):
        node, gpu = f"bm-node-{g // 8:04d}", f"bm-gpu-{g:05d}"
        model = MODELS[(g // 8) % len(MODELS)]
        held = g % 8 < 5
        state = "down" if g % 97 == 0 and minute % 600 < 30 else "allocated" if held else "idle"
        data = {"node": node, "gpu": gpu, "gpu_model": model, "start": _z(start), "end": _z(end), "state": state}
        events.append(
            {
                "specversion": "1.0",
                "id": f"{gpu}-status-{minute}",
                "source": f"node/{node}",
                "type": "gpu.status",
                "time": _z(end),
                "data": data,
            }
        )
        if held:
            events.append(
                {
                    "specversion": "1.0",
                    "id": f"{gpu}-usage-{minute}",
                    "source": f"node/{node}",
                    "type": "gpu.usage",
                    "subject": f"bm-tenant-{g // 50}",
                    "time": _z(end),
                    "data": {
                        "node": node,
                        "gpu": gpu,
                        "gpu_model": model,
                        "start": _z(start),
                        "end": _z(end),
                        "utilization": "0.62",
                    },
                }
            )
    return events


def record_path(engine, gpus: int, hours: int, batch: int = 5_000) -> None:
    pending: list[dict] = []
    count, seconds = 0, 0.0

    def flush():
        nonlocal pending, count, seconds
        records = validate_batch(pending)
        started = time.perf_counter()
        with engine.begin() as conn:
            record_batch(conn, f"bm-{count}", records)
        seconds += time.perf_counter() - started
        count += len(pending)
        pending = []

    for minute in range(hours * 60):
        pending += _window_events(gpus, minute)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    with engine.connect() as conn:
        rows = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in (
                "usage_events",
                "gpu_coverage",
                "gpu_status_coverage",
                "gpu_status_hourly",
                "fleet_hourly",
                "tenant_fleet_hourly",
                "fleet_gpus",
            )
        }
    print(
        f"recording path: {gpus} GPUs x {hours} h of 1-minute windows: {count:,} events recorded in "
        f"{seconds:.1f} s ({count / seconds:,.0f} events/s)"
    )
    for table, n in rows.items():
        print(f"  {table:>20}: {n:>10,} rows")
    with engine.connect() as conn:
        started = time.perf_counter()
        report = utilization.report(conn, Period(2031, 1), "model")
        took = time.perf_counter() - started
    print(
        f"  report by model: {took * 1000:.0f} ms; total lit_rate {report['total']['lit_rate']}, "
        f"allocation_rate {report['total']['allocation_rate']}, busy_rate {report['total']['busy_rate']}"
    )


_FILL = """
INSERT INTO fleet_gpus (gpu, node, gpu_model, first_seen_s, last_state, last_reason, last_start_s, last_end_s,
                        last_seq)
SELECT 'f' || :f || '-g' || g, 'f' || :f || '-n' || (g / 8),
       (ARRAY['H100-SXM','H20','Ascend-910B','RTX-4090'])[1 + (g / 8) % 4],
       :s, 'idle', NULL, :e - 60, :e, 0
FROM generate_series(0, :gpus - 1) g;
INSERT INTO fleet_hourly (node, gpu_model, hour, reported_s, down_s, allocated_s, busy_s)
SELECT 'f' || :f || '-n' || n, (ARRAY['H100-SXM','H20','Ascend-910B','RTX-4090'])[1 + n % 4], :s + h * 3600,
       8 * 3600 - (n % 5) * 60, CASE WHEN n % 97 = 0 THEN 3600 ELSE 0 END, 5 * 3600, 5 * 3600 * 0.62
FROM generate_series(0, :gpus / 8 - 1) n, generate_series(0, :hours - 1) h;
INSERT INTO fleet_model_hourly (gpu_model, hour, shard, reported_s, down_s, allocated_s, busy_s)
SELECT gpu_model, hour, hashtext(node) & 15, sum(reported_s), sum(down_s), sum(allocated_s), sum(busy_s)
FROM fleet_hourly WHERE node LIKE 'f' || :f || '-n%' GROUP BY 1, 2, 3;
INSERT INTO tenant_fleet_hourly (tenant_id, contract_id, gpu_model, hour, allocated_s, lit_allocated_s, busy_s,
                                 last_seq)
SELECT 'f' || :f || '-t' || t, '', (ARRAY['H100-SXM','H20','Ascend-910B','RTX-4090'])[1 + t % 4], :s + h * 3600,
       50 * 3600 * 5 / 8, 50 * 3600 * 5 / 8, 50 * 3600 * 5 / 8 * 0.62, 0
FROM generate_series(0, :gpus / 50 - 1) t, generate_series(0, :hours - 1) h;
"""


def fill(engine, fleet: int, gpus: int, period: Period) -> None:
    """A month of rollups for `gpus` GPUs (nodes, tenants and GPU ids of their own) in `period`."""
    start = int(period.start(utilization.DEFAULT_TZ).timestamp())
    hours = (int(period.end(utilization.DEFAULT_TZ).timestamp()) - start) // 3600
    with engine.begin() as conn:
        for statement in filter(str.strip, _FILL.split(";")):
            conn.execute(
                text(statement), {"f": fleet, "gpus": gpus, "s": start, "e": start + hours * 3600, "hours": hours}
            )
        conn.execute(text("ANALYZE"))


def time_reports(engine, period: Period, gpus: int) -> None:
    results = {}
    with engine.connect() as conn:
        for by in (*utilization.GROUPS, "pack"):
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                if by == "pack":
                    utilization.pack(conn, period)
                else:
                    utilization.report(conn, period, by)
                runs.append(time.perf_counter() - started)
            results[by] = statistics.median(runs)
        rows = conn.execute(text("SELECT count(*) FROM fleet_hourly")).scalar_one()
    line = "  ".join(f"{by} {s * 1000:.0f} ms" for by, s in results.items())
    print(f"{gpus:>7,} GPUs, {period} ({rows:,} fleet_hourly rows in the table): {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=64, help="GPUs sending through the recording path")
    parser.add_argument("--hours", type=int, default=24, help="hours of 1-minute windows they send")
    parser.add_argument("--fleets", type=int, nargs="*", default=[1_000, 10_000], help="fleet sizes to report on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kashi-utilization-bench-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "data", database_url=None, redis_url=None)
        servers = resolve(settings, start=True)
        try:
            engine = make_engine(servers.database_url)
            upgrade(engine)
            if args.gpus:
                record_path(engine, args.gpus, args.hours)
            for n, gpus in enumerate(args.fleets, 1):
                period = Period(2031, 2 + n) if n <= 10 else Period(2032, n - 10)
                started = time.perf_counter()
                fill(engine, n, gpus, period)
                print(f"seeded {period} of rollups for {gpus:,} GPUs in {time.perf_counter() - started:.1f} s")
                time_reports(engine, period, gpus)
            engine.dispose()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
