"""Export memory benchmark (issue 6): peak RSS of `kashi export invoice-lines` for an empty month, a
month of 100,000 lines and a month of 1,000,000 lines, as CSV and as xlsx.

    python benchmarks/export_memory.py                      # 100k and 1M, csv and xlsx
    python benchmarks/export_memory.py --sizes 100000 --formats csv

Everything is real: the embedded PostgreSQL under a temporary data dir, migrated; the export is the
command an operator runs (``python -m kashi.cli export invoice-lines``), a child process whose
peak resident set size is read from ``os.wait4`` (``ru_maxrss``, KiB on Linux) when it exits. The
months are seeded with SQL (``generate_series``): tenants with Chinese names, one invoice per tenant
of 500 lines each, so a million lines are 2,000 invoices. Memory is flat when the 1M figure is the
100k figure, not ten times it. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
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

LINES_PER_INVOICE = 500
FIRST_MONTH = 1
"""Seeded months are 2031-01, 2031-02, …; the empty month is 2030-12."""

_SEED = """
INSERT INTO tenants (id, name, timezone, currency, created_at)
SELECT 'bm-' || :p || '-' || n, '上海算力租户 ' || n, 'Asia/Shanghai', 'CNY', now()
  FROM generate_series(1, :invoices) n;
INSERT INTO invoices (id, number, tenant_id, period, currency, issued_at, subtotal, tax, total, close_seq)
SELECT 'inv-bm-' || :p || '-' || n, 'BM-' || :p || '-' || lpad(n::text, 6, '0'), 'bm-' || :p || '-' || n, :p, 'CNY',
       now(), :lines * 7200.00, :lines * 432.00, :lines * 7632.00, 0
  FROM generate_series(1, :invoices) n;
INSERT INTO invoice_lines (invoice_id, position, kind, contract_id, item_id, description, quantity, unit, unit_price,
                           amount, tax_rate, tax, period_start, period_end, charged_period)
SELECT 'inv-bm-' || :p || '-' || n, k, 'machine_month', 'c-bm-' || n, 'i-' || k,
       'RTX-4090 整机 8 卡 × 1 台 machine-month', 1, 'machine-month', 7200.00, 7200.00, 0.06, 432.00,
       :start, :end, :p
  FROM generate_series(1, :invoices) n, generate_series(1, :lines) k;
"""


def seed(engine, period: str, lines: int) -> None:
    year, month = map(int, period.split("-"))
    start = f"{year}-{month:02d}-01T00:00:00+08:00"
    end = f"{year + month // 12}-{month % 12 + 1:02d}-01T00:00:00+08:00"
    params = {
        "p": period,
        "invoices": lines // LINES_PER_INVOICE,
        "lines": LINES_PER_INVOICE,
        "start": start,
        "end": end,
    }
    with engine.begin() as conn:
        for statement in filter(str.strip, _SEED.split(";")):
            conn.execute(text(statement), params)


def measure(data_dir: Path, period: str, format: str, out: Path) -> dict:
    """Run the export as a child process; its wall time and peak RSS (MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    log = out.with_suffix(".log")
    started = time.perf_counter()
    with open(log, "wb") as stderr:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kashi.cli",
                "export",
                "invoice-lines",
                "--period",
                period,
                "--format",
                format,
                "-o",
                str(out),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"export failed: {log.read_text()[-2000:]}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "bytes": out.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kashi-export-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        settings = Settings(data_dir=data_dir, database_url=None, redis_url=None)
        servers = resolve(settings, start=True)
        try:
            engine = make_engine(servers.database_url)
            upgrade(engine)
            months = {0: "2030-12"}
            for n, size in enumerate(args.sizes):
                months[size] = f"2031-{FIRST_MONTH + n:02d}"
                started = time.perf_counter()
                seed(engine, months[size], size)
                print(f"seeded {size:,} lines in {months[size]} in {time.perf_counter() - started:.1f} s", flush=True)
            engine.dispose()
            print(f"{'lines':>10} {'format':>6} {'seconds':>8} {'peak RSS MiB':>12} {'file MiB':>9}")
            for format in args.formats:
                for size, period in months.items():
                    result = measure(data_dir, period, format, Path(scratch) / f"{period}.{format}")
                    print(
                        f"{size:>10,} {format:>6} {result['seconds']:>8.1f} {result['peak_rss_mib']:>12.1f} "
                        f"{result['bytes'] / 2**20:>9.1f}",
                        flush=True,
                    )
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
