"""Month-close benchmark (issue 17, item 4): tenants/s closing a period for 1,000 and 10,000 tenants.

    python benchmarks/close.py --sizes 1000 10000 --events 100 --processes 2

Each size gets its own fresh tenants (Asia/Shanghai), each signed, through the contracts service, to
one CNY contract (a committed GPU-hour item and a token item), with ``--events`` usage events in
October 2026: half ``gpu.usage`` (an hour each on the tenant's own GPU) and half ``llm.tokens``. The
usage is seeded by SQL straight into ``usage_log`` (``benchmarks/seed_log.py``) and
``gpu_coverage`` (what ingest would have written). Each size is then closed by
:func:`billing.services.close.close_tenants` — what ``kashi close 2026-10`` runs for every tenant
— over ``--processes`` worker processes. Printed: the seconds of the scheduler's pass that finds
them due (``workers.scheduler.due_closes``: their contracts read a thousand tenants at a time), the close's
seconds, tenants/s and the seconds per tenant relative to the smallest size's (the floor of the same
run: linear growth keeps it near 1). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed_log  # noqa: E402

from billing.core.periods import Period
from billing.services import contracts, tenants
from billing.services.close import close_tenants
from kashi.db import make_engine
from kashi.migrate import upgrade
from kashi.servers import resolve
from kashi.settings import Settings
from workers.scheduler import due_closes

PERIOD = Period(2026, 10)
NOW = datetime(2026, 11, 2, tzinfo=UTC)
ITEMS = [
    {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50", "committed_card_hours": "10"},
    {
        "id": "i-t",
        "pricing": "token",
        "model": "*",
        "input_price": "2.00",
        "output_price": "8.00",
        "cached_input_price": "0.50",
    },
]
USAGE = """
SELECT 'node/' || t, t || '-' || n, CASE WHEN n % 2 = 0 THEN 'gpu.usage' ELSE 'llm.tokens' END, t, 'c-' || t,
       at + interval '1 hour', 'bench-close',
       CASE WHEN n % 2 = 0 THEN jsonb_build_object(
              'gpu', 'g-' || t, 'gpu_model', 'H100-SXM',
              'start', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              'end', to_char((at + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            ELSE jsonb_build_object('model', 'qwen2.5-72b', 'input_tokens', 10000, 'output_tokens', 2000,
                                    'cached_tokens', 0) END
FROM unnest(CAST(:t AS text[])) AS t, generate_series(0, :n - 1) AS n,
     LATERAL (SELECT timestamptz '2026-10-02 00:00:00+08' + n * interval '1 hour' AS at) AS a
"""
COVERAGE = """
INSERT INTO gpu_coverage (start_s, end_s, seq, gpu_no, tenant_id, contract_id, gpu_model)
SELECT l.start_s, l.start_s + l.span_s, l.seq, l.gpu_no, t.name, c.name, m.name
FROM usage_log l JOIN usage_names t ON t.no = l.tenant_no JOIN usage_names m ON m.no = l.model_no
LEFT JOIN usage_names c ON c.no = l.contract_no
WHERE t.name = ANY(:t) AND l.kind & 3 = 1
"""


def seed(engine, prefix: str, count: int, events: int) -> list[tuple[str, str]]:
    fleet = [f"{prefix}-{n:05d}" for n in range(count)]
    for start in range(0, count, 500):
        chunk = fleet[start : start + 500]
        with engine.begin() as conn:
            for tenant in chunk:
                tenants.create(conn, {"id": tenant, "name": tenant}, actor="bench")
                contracts.sign(
                    conn,
                    {
                        "id": f"c-{tenant}",
                        "tenant_id": tenant,
                        "currency": "CNY",
                        "tax_rate": "0.06",
                        "start": "2026-09-01T00:00:00+08:00",
                        "closed_months": 12,
                        "open_months": 12,
                        "notice_days": 30,
                        "items": ITEMS,
                        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
                    },
                    actor="bench",
                    now=datetime(2026, 9, 1, tzinfo=UTC),
                )
            seed_log.seed(conn, USAGE, {"t": chunk, "n": events})
            conn.execute(text(COVERAGE), {"t": chunk})
    with engine.begin() as conn:
        for table in ("usage_log", "gpu_coverage", "stream_events", "contracts", "tenants"):
            conn.execute(text(f"ANALYZE {table}"))
    return [(tenant, "Asia/Shanghai") for tenant in fleet]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--events", type=int, default=100, help="Usage events per tenant.")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kashi-close-bench-") as scratch:
        servers = resolve(Settings(data_dir=Path(scratch) / "data", database_url=None, redis_url=None), start=True)
        try:
            engine = make_engine(servers.database_url)
            upgrade(engine)
            header = ("tenants", "seed s", "scheduler s", "close s", "tenants/s", "invoices", "s/tenant vs floor")
            print("{:>8} {:>7} {:>11} {:>8} {:>10} {:>9} {:>18}".format(*header), flush=True)
            floor = None
            for n, size in enumerate(sorted(args.sizes)):
                started = time.perf_counter()
                fleet = seed(engine, f"b{n}", size, args.events)
                seeded = time.perf_counter() - started
                started = time.perf_counter()  # the scheduler's pass: which of them are due (all are)
                due = due_closes(engine, NOW + timedelta(days=1), timedelta(hours=24), [t for t, _ in fleet])
                scheduled = time.perf_counter() - started
                assert len(due) == size, (len(due), size)
                started = time.perf_counter()
                ids = close_tenants(engine, fleet, PERIOD, NOW, processes=args.processes)
                seconds = time.perf_counter() - started
                per_tenant = seconds / size
                floor = floor or per_tenant
                print(
                    f"{size:>8,} {seeded:>7.1f} {scheduled:>11.2f} {seconds:>8.1f} {size / seconds:>10,.0f} "
                    f"{len(ids):>9,} {per_tenant / floor:>18.2f}",
                    flush=True,
                )
            engine.dispose()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
