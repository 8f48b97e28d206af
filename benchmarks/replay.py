"""Replay memory benchmark (issue 17, item 1): peak RSS of `kashi replay --verify` as the log grows.

    python benchmarks/replay.py --sizes 1000000 2000000
    python benchmarks/replay.py --sizes 100000 200000 --in-place     # `kashi replay` (rebuild) instead

The log is seeded straight into ``usage_events`` by SQL (half ``gpu.usage`` 5-minute windows over
4,096 GPUs of 64 nodes, half ``llm.tokens``, 20 tenants); each size then runs the real CLI in a
child process against the embedded PostgreSQL, and the child's peak RSS (``ru_maxrss``) is printed
with its ratio to the smallest size's (the floor measured in the same run; flat memory means the
ratio stays within 1 ± 0.2). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from kashi.db import make_engine
from kashi.migrate import upgrade
from kashi.servers import resolve
from kashi.settings import Settings

GPUS = 4096
SEED = """
INSERT INTO usage_events (source, id, type, tenant_id, contract_id, event_time, batch_id, data)
SELECT 'node/n' || lpad((g % 64)::text, 3, '0'), 'e' || g,
       CASE WHEN g % 2 = 0 THEN 'gpu.usage' ELSE 'llm.tokens' END,
       'tenant-' || lpad((g / 2 % 20)::text, 2, '0'), NULL, w_end, 'bench-' || (g / 1000),
       CASE WHEN g % 2 = 0 THEN jsonb_build_object(
              'gpu', 'gpu-' || (g / 2 % :gpus), 'gpu_model', 'H100-SXM',
              'start', to_char(w_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              'end', to_char(w_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            ELSE jsonb_build_object('model', 'llama-70b', 'input_tokens', 1000 + g % 97,
                                    'output_tokens', 200 + g % 13, 'cached_tokens', 0) END
FROM (SELECT g, timestamptz '2026-10-01 00:00:00+00' + (g / 2 / :gpus) * interval '300 seconds' AS w_start,
             timestamptz '2026-10-01 00:00:00+00' + (g / 2 / :gpus + 1) * interval '300 seconds' AS w_end
      FROM generate_series(:lo, :hi - 1) AS g) AS s
"""


def seed(engine, lo: int, hi: int) -> None:
    step = 250_000
    for start in range(lo, hi, step):
        with engine.begin() as conn:
            conn.execute(text(SEED), {"lo": start, "hi": min(hi, start + step), "gpus": GPUS})
    with engine.begin() as conn:
        conn.execute(text("ANALYZE usage_events"))


def measure(data_dir: Path, in_place: bool) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one `kashi replay` child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    env["KASHI_DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    command = [sys.executable, "-m", "kashi.cli", "replay", *([] if in_place else ["--verify"])]
    code = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--in-place", action="store_true", help="Run `kashi replay` (rebuild) instead of --verify.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kashi-replay-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        servers = resolve(Settings(data_dir=data_dir, database_url=None, redis_url=None), start=True)
        try:
            engine = make_engine(servers.database_url)
            upgrade(engine)
            print(f"{'events':>10} {'seconds':>8} {'events/s':>9} {'peak RSS MiB':>12} {'vs floor':>8}", flush=True)
            seeded, floor = 0, None
            for size in sorted(args.sizes):
                seed(engine, seeded, size)
                seeded = size
                # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: sizes run smallest first
                seconds, rss, code = measure(data_dir, args.in_place)
                floor = floor or rss
                print(
                    f"{size:>10,} {seconds:>8.1f} {size / seconds:>9,.0f} {rss:>12.1f} {rss / floor:>8.2f}"
                    + ("" if code in (0, 1) else f"  (exit {code})"),
                    flush=True,
                )
            engine.dispose()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
