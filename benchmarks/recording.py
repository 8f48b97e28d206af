"""Recording benchmark: CPU per event of the recording transaction alone, by group size.

    python benchmarks/recording.py --events 200000 --groups 1 4 8 16

No HTTP, no queue, no threads: the benchmark's events (:func:`ingest.make_events`) are parsed as
the API parses them, encoded as queued messages, then decoded and recorded by
:func:`metering.record.record_many` in groups of ``K`` batches of 1,000 events, one group after
another, on the embedded PostgreSQL. It prints the CPU of this process (the worker's share) and of
PostgreSQL per event, for each group size, each on a fresh database. On a shared host, CPU time
spent in one process moves much less than an end-to-end rate does, so this tells changes to the
recording path apart where ``benchmarks/ingest.py`` cannot. The first tenth of the batches warms
caches and is not counted. Nothing here is asserted on time.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from ingest import make_bodies, make_events  # noqa: E402 - the ingest benchmark's events

from kashi.db import make_engine  # noqa: E402
from kashi.migrate import upgrade  # noqa: E402
from kashi.runtime import tune_gc  # noqa: E402
from kashi.servers import resolve  # noqa: E402
from kashi.settings import Settings  # noqa: E402
from metering.ingest import parse_rows  # noqa: E402
from metering.record import Delivery, record_many  # noqa: E402


def queued_messages(events: int, seed: int) -> list[bytes]:
    """The batches of 1,000 events as the API queues them (one message body each)."""
    by_source = make_events(events, seed)
    bodies = make_bodies(by_source, 1000, dict.fromkeys(by_source, "key"))
    return [orjson.dumps([f"batch-{i}", parse_rows(body)[0]]) for i, (_, body, _) in enumerate(bodies)]


def postgres_cpu(master: psutil.Process) -> float:
    total = 0.0
    for p in [master, *master.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(messages: list[bytes], group: int) -> tuple[int, float, float]:
    """(events counted, worker µs per event, PostgreSQL µs per event) on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="kashi-recording-") as tmp:
        servers = resolve(Settings(data_dir=Path(tmp), log_level="WARNING"), start=True)
        try:
            engine = make_engine(servers.database_url, pool_size=2)
            upgrade(engine)
            master = psutil.Process(int(next(Path(tmp).rglob("postmaster.pid")).read_text().split()[0]))

            def record(part: list[bytes]) -> int:
                events = 0
                for i in range(0, len(part), group):
                    deliveries = []
                    for message in part[i : i + group]:
                        batch_id, rows = orjson.loads(message)  # as the broker's encoder decodes it
                        deliveries.append(Delivery(batch_id, rows, {}))
                        events += len(rows)
                    for outcome in record_many(engine, deliveries):
                        if isinstance(outcome, Exception):
                            raise outcome
                return events

            gc.collect()
            tune_gc()  # as the worker process does
            warm = max(group, len(messages) // 10)
            record(messages[:warm])
            cpu, pg = time.process_time(), postgres_cpu(master)
            events = record(messages[warm:])
            cpu, pg = time.process_time() - cpu, postgres_cpu(master) - pg
            engine.dispose()
        finally:
            servers.stop()
    return events, cpu / events * 1e6, pg / events * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--groups", type=int, nargs="+", default=[1, 4, 8, 16], help="batches per transaction")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    messages = queued_messages(args.events, args.seed)
    print(f"{len(messages)} batches of up to 1,000 events (the ingest benchmark's mix)", flush=True)
    for group in args.groups:
        events, worker, postgres = measure(messages, group)
        print(
            f"{group:>3} batches per transaction: worker {worker:.1f} µs/event, PostgreSQL {postgres:.1f} µs/event, "
            f"together {worker + postgres:.1f} ({events:,} events counted)",
            flush=True,
        )


if __name__ == "__main__":
    main()
