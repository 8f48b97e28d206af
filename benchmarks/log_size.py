"""Bytes per event of the usage log on disk, per relation, for the ingest benchmark's mix (issue 17, item 2).

    python benchmarks/log_size.py --events 200000

The events of ``benchmarks/ingest.py`` (same generator and seed: half ``gpu.usage``, half
``llm.tokens``, 5 % resends, 5 % overlaps) are validated as the API does and recorded as a worker
does (``metering.record.record``, batches of ``--batch``), without HTTP or the queue; then each
relation of the log and of ``gpu_coverage`` is measured with ``pg_total_relation_size`` (heap,
TOAST and every index) after a ``VACUUM ANALYZE``, divided by the rows of the log.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from ingest import make_events  # noqa: E402
from sqlalchemy import text  # noqa: E402

from kashi.db import make_engine  # noqa: E402
from kashi.migrate import upgrade  # noqa: E402
from kashi.servers import resolve  # noqa: E402
from kashi.settings import Settings  # noqa: E402
from metering import ingest  # noqa: E402
from metering.record import record  # noqa: E402

LOG_RELATIONS = ("usage_log", "usage_names", "usage_batches", "gpu_coverage")


def sizes(conn, relations) -> list[tuple[str, str, int]]:
    """(table, relation, bytes) of each table's heap (+TOAST) and each of its indexes."""
    found = []
    for table in relations:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            continue
        heap = conn.execute(
            text("SELECT pg_table_size(CAST(:t AS regclass))"), {"t": table}
        ).scalar_one()  # heap + TOAST + FSM/VM
        found.append((table, "heap", heap))
        for name, size in conn.execute(
            text("""SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index
                    WHERE indrelid = CAST(:t AS regclass) ORDER BY 1"""),
            {"t": table},
        ):
            found.append((table, name, size))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    by_source = make_events(args.events, args.seed)
    with tempfile.TemporaryDirectory(prefix="kashi-logsize-") as tmp:
        servers = resolve(Settings(data_dir=Path(tmp), log_level="WARNING"), start=True)
        try:
            engine = make_engine(servers.database_url, pool_size=2)
            upgrade(engine)
            t0 = time.perf_counter()
            sent = 0
            for events in by_source.values():
                for i in range(0, len(events), args.batch):
                    records, count = ingest.parse(orjson.dumps(events[i : i + args.batch]))
                    record(engine, uuid.uuid4().hex, [r.to_wire() for r in records])
                    sent += count
            elapsed = time.perf_counter() - t0
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
                events = conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one()
                pieces = conn.execute(text("SELECT count(*) FROM gpu_coverage")).scalar_one()
                found = sizes(conn, ("usage_events", *LOG_RELATIONS))
            print(f"{sent:,} events sent, {events:,} logged, {pieces:,} coverage pieces; recorded in {elapsed:.1f} s")
            total = 0
            for table, relation, size in found:
                total += size
                print(f"  {table:14} {relation:44} {size / 1e6:9.2f} MB {size / events:7.1f} B/event")
            print(f"total: {total / 1e6:.2f} MB = {total / events:.1f} B/event")
            engine.dispose()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
