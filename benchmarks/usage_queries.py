"""Usage query benchmark (issue 17, item 5): `GET /v1/usage` for one tenant-month stays flat with history.

    python benchmarks/usage_queries.py --months 100 --fleet-tenants 200 --explain

Rollups are seeded straight into ``gpu_hourly`` and ``token_hourly`` by SQL: a fleet of
``--fleet-tenants`` tenants with two months each (3 GPU models, 2 LLM models with 3 token kinds, every
hour) and one tenant with ``--months`` months of the same; the floor is a tenant with one month.
Each query is the service call behind the route (:func:`metering.usage.gpu_usage` /
``token_usage``, group by day, the last month, Asia/Shanghai), run ``--runs`` times; printed are
p50/p99 in ms and the ratio of the history tenant's p50 to the floor's, and the same for the SQL
as it was before (hour compared with ``extract(epoch …)``). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from kashi.db import make_engine
from kashi.migrate import upgrade
from kashi.servers import resolve
from kashi.settings import Settings
from metering import usage

TZ = "Asia/Shanghai"
LAST = datetime(2036, 5, 1, tzinfo=UTC)
"""Every tenant's history ends here; the month queried is the one before."""
SEED_GPU = """
INSERT INTO gpu_hourly (tenant_id, contract_id, gpu_model, hour, card_seconds)
SELECT :t, 'c-' || :t, m, h, 3600 * 8
FROM unnest(ARRAY['H100-SXM', 'A100-80G', 'RTX-4090']) AS m,
     generate_series(:last - :hours * 3600, :last - 3600, 3600) AS h
"""
SEED_TOKENS = """
INSERT INTO token_hourly (tenant_id, contract_id, model, hour, input_tokens, output_tokens, cached_tokens)
SELECT :t, 'c-' || :t, m, h, 100000, 100000, 100000
FROM unnest(ARRAY['llama-70b', 'qwen-72b']) AS m, generate_series(:last - :hours * 3600, :last - 3600, 3600) AS h
"""
BEFORE = {
    "gpu": """SELECT date_trunc(:g, to_timestamp(hour) AT TIME ZONE :tz) AT TIME ZONE :tz AS bucket,
                     contract_id, gpu_model, sum(card_seconds)::bigint AS card_seconds
              FROM gpu_hourly
              WHERE tenant_id = :t AND hour >= extract(epoch FROM CAST(:s AS timestamptz))
                AND hour < extract(epoch FROM CAST(:e AS timestamptz))
              GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
    "tokens": """SELECT date_trunc(:g, to_timestamp(t.hour) AT TIME ZONE :tz) AT TIME ZONE :tz AS bucket,
                        t.contract_id, t.model, k.kind, sum(k.tokens)::bigint AS tokens
                 FROM token_hourly t
                 CROSS JOIN LATERAL (VALUES ('input', t.input_tokens), ('output', t.output_tokens),
                                            ('cached', t.cached_tokens)) AS k(kind, tokens)
                 WHERE t.tenant_id = :t AND t.hour >= extract(epoch FROM CAST(:s AS timestamptz))
                   AND t.hour < extract(epoch FROM CAST(:e AS timestamptz))
                 GROUP BY 1, 2, 3, 4 HAVING sum(k.tokens) > 0 ORDER BY 1, 2, 3, 4""",
}
AFTER = {
    "gpu": BEFORE["gpu"]
    .replace("extract(epoch FROM CAST(:s AS timestamptz))", ":s_epoch")
    .replace("extract(epoch FROM CAST(:e AS timestamptz))", ":e_epoch"),
    "tokens": BEFORE["tokens"]
    .replace("extract(epoch FROM CAST(:s AS timestamptz))", ":s_epoch")
    .replace("extract(epoch FROM CAST(:e AS timestamptz))", ":e_epoch"),
}


def seed(engine, tenant: str, months: int) -> None:
    with engine.begin() as conn:
        params = {"t": tenant, "last": int(LAST.timestamp()), "hours": months * 730}
        conn.execute(text(SEED_GPU), params)
        conn.execute(text(SEED_TOKENS), params)


def timings(engine, call, runs: int) -> tuple[float, float]:
    samples = []
    with engine.connect() as conn:
        call(conn)  # warm
        for _ in range(runs):
            started = time.perf_counter()
            call(conn)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=100)
    parser.add_argument("--fleet-tenants", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="Print EXPLAIN (ANALYZE) before and after.")
    args = parser.parse_args()
    start, end = datetime(2036, 3, 31, 16, tzinfo=UTC), datetime(2036, 4, 30, 16, tzinfo=UTC)  # April in Shanghai
    with tempfile.TemporaryDirectory(prefix="kashi-usage-bench-") as scratch:
        servers = resolve(Settings(data_dir=Path(scratch) / "data", database_url=None, redis_url=None), start=True)
        try:
            engine = make_engine(servers.database_url)
            upgrade(engine)
            started = time.perf_counter()
            for n in range(args.fleet_tenants):
                seed(engine, f"fleet-{n:04d}", 2)
            seed(engine, "history", args.months)
            seed(engine, "floor", 1)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE gpu_hourly"))
                conn.execute(text("ANALYZE token_hourly"))
                rows = conn.execute(
                    text("""SELECT (SELECT count(*) FROM gpu_hourly),
                                                   (SELECT count(*) FROM token_hourly)""")
                ).one()
            print(
                f"seeded {rows[0]:,} gpu_hourly + {rows[1]:,} token_hourly rows "
                f"({args.fleet_tenants} tenants × 2 months, 1 × {args.months} months) in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            print(f"{'query':<28} {'tenant':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs floor':>8}")
            for kind in ("gpu", "tokens"):
                service = usage.gpu_usage if kind == "gpu" else usage.token_usage
                for label, call in (
                    (
                        "after: " + service.__name__,
                        lambda t, service=service: lambda c: service(c, t, TZ, start, end, "day"),
                    ),
                    (
                        "before: extract(epoch …)",
                        lambda t, sql=BEFORE[kind]: (
                            lambda c: c.execute(text(sql), {"g": "day", "tz": TZ, "t": t, "s": start, "e": end}).all()
                        ),
                    ),
                ):
                    floor, _ = timings(engine, call("floor"), args.runs)
                    p50, p99 = timings(engine, call("history"), args.runs)
                    print(f"{label:<28} {'floor':>8} {floor:>7.1f}")
                    print(f"{label:<28} {'history':>8} {p50:>7.1f} {p99:>7.1f} {p50 / floor:>8.2f}", flush=True)
            if args.explain:
                bounds = {
                    "g": "day",
                    "tz": TZ,
                    "t": "history",
                    "s": start,
                    "e": end,
                    **{f"{k}_epoch": v for k, v in usage.hour_bounds(start, end).items()},
                }
                for label, sql in (("BEFORE", BEFORE["gpu"]), ("AFTER", AFTER["gpu"])):
                    with engine.begin() as conn:
                        plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql), bounds).scalars().all()
                    print(f"\n-- {label} (gpu, history tenant, one month)\n" + "\n".join(plan))
                with engine.begin() as conn:  # and the bound query without the new index
                    conn.execute(text("DROP INDEX ix_gpu_hourly_tenant_hour"))
                    plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + AFTER["gpu"]), bounds).scalars().all()
                    conn.rollback()
                print("\n-- bounds on hour but no (tenant_id, hour) index\n" + "\n".join(plan))
            engine.dispose()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
