"""Ingest benchmark (issue 3, item 10): events through the real HTTP API until persisted, vs raw COPY.

    python benchmarks/ingest.py --events 1000000 --clients 8 --batch 1000 --workers 2
    python benchmarks/ingest.py --events 200000 --rate 10000      # 202 latency at a fixed offered load

Everything is real: the embedded PostgreSQL and Valkey (AOF, ``WAITAOF``) under a temporary data
dir, the API as ``python -m kashi.cli api`` and ``--workers`` processes of ``python -m kashi.cli
worker``, as ``kashi up`` runs them (``--in-process`` uses :class:`kashi.local.LocalKashi` instead:
API and workers as threads of this process). Events come from
:func:`metering.agent.simulate.simulate_events`: many nodes (sources), each with many GPUs, 5 %
resends and 5 % overlaps, half ``gpu.usage`` and half ``llm.tokens``; each node's agent key sends
its own batches. Bodies are encoded before the clock starts, so the clients cost little CPU.

End to end = events sent / (first request → every batch recorded in ``ingest_batches``). The COPY
figure copies the rows of ``usage_events`` (same columns) into an unindexed table on the same
PostgreSQL, from text already in memory. Nothing here is asserted on time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg

from kashi.db import make_engine
from kashi.keys import create_key
from kashi.migrate import upgrade
from kashi.servers import resolve
from kashi.settings import Settings
from metering.agent.simulate import simulate_events

START = datetime(2026, 10, 1, tzinfo=UTC)
NODES = 64
WINDOW_S = 300
TENANTS = [f"tenant-{i:02d}" for i in range(1, 21)]


def make_events(total: int, seed: int) -> dict[str, list[dict]]:
    """About `total` events over `NODES` nodes: half GPU windows, half token counts, per node."""
    per_node = -(-total // NODES)
    probe = simulate_events(gpus=64, start=START, window_s=WINDOW_S, seed=seed, source="node/probe", tenant_ids=TENANTS)
    per_gpu = max(1.0, len(probe) / 64)
    gpus = max(1, round(per_node / 2 / per_gpu))
    by_source: dict[str, list[dict]] = {}
    for n in range(NODES):
        source = f"node/n{n:03d}"
        events = simulate_events(
            gpus=gpus,
            start=START,
            window_s=WINDOW_S,
            seed=seed + n,
            source=source,
            tenant_ids=TENANTS,
            gpu_model=("H100-SXM", "RTX-4090", "A100-80G")[n % 3],
            token_events=max(0, per_node - round(gpus * per_gpu)) + per_node // 10,
        )
        by_source[source] = events[:per_node]
    left = sum(len(v) for v in by_source.values()) - total
    for events in by_source.values():  # trim to exactly `total`
        cut = min(left, max(0, len(events) - 1))
        del events[len(events) - cut :]
        left -= cut
    return by_source


def make_bodies(by_source: dict[str, list[dict]], batch: int, keys: dict[str, str]) -> list[tuple[str, bytes, int]]:
    """``(key, body, events)`` per request, nodes interleaved as concurrent agents would send."""
    per_source = [
        [(keys[s], orjson.dumps(ev[i : i + batch]), len(ev[i : i + batch])) for i in range(0, len(ev), batch)]
        for s, ev in by_source.items()
    ]
    bodies = []
    for k in range(max(map(len, per_source))):
        bodies.extend(p[k] for p in per_source if k < len(p))
    return bodies


class Stack:
    """Servers, migrations, API and workers: subprocesses like ``kashi up``, or LocalKashi threads."""

    def __init__(self, data_dir: Path, workers: int, threads: int, in_process: bool):
        self.settings = Settings(data_dir=data_dir, worker_threads=threads, log_level="WARNING")
        self.workers, self.in_process, self.procs, self.local = workers, in_process, [], None

    def start(self) -> Stack:
        if self.in_process:
            from kashi.local import LocalKashi

            self.local = LocalKashi(self.settings, workers=self.workers).start()
            self.servers, self.engine, self.base_url = self.local.servers, self.local.engine, self.local.base_url
            return self
        self.servers = resolve(self.settings, start=True)
        self.engine = make_engine(self.servers.database_url, pool_size=4)
        upgrade(self.engine)
        env = dict(
            os.environ,
            KASHI_DATABASE_URL=self.servers.database_url,
            KASHI_REDIS_URL=self.servers.redis_url,
            KASHI_WORKER_THREADS=str(self.settings.worker_threads),
            KASHI_LOG_LEVEL="WARNING",
            KASHI_DATA_DIR=str(self.settings.data_dir),
        )
        from kashi.local import free_port

        port = free_port()
        cmd = [sys.executable, "-m", "kashi.cli"]
        self.procs.append(subprocess.Popen([*cmd, "api", "--port", str(port)], env=env))
        self.procs += [subprocess.Popen([*cmd, "worker"], env=env) for _ in range(self.workers)]
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
            return
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.engine.dispose()
        self.servers.stop()


def pg_connect(stack: Stack) -> psycopg.Connection:
    return psycopg.connect(
        stack.servers.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


async def send_closed(base_url: str, bodies, clients: int) -> tuple[list[float], dict[int, int]]:
    """`clients` concurrent clients, each sending its next batch as soon as the last got its answer."""
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    queue = iter(bodies)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            for key, body, _n in queue:
                t0 = time.perf_counter()
                r = await http.post(
                    "/v1/events",
                    content=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
                )
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses


def server_latency(base_url: str) -> str:
    """The API's own histogram of POST /v1/events (kashi_http_request_duration_seconds): how many
    requests took longer than each bucket bound, to tell server time from client-side delays."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    buckets, count = [], 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "kashi_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("route") != "/v1/events" or labels.get("status") != "202":
                continue
            if sample.name.endswith("_bucket"):
                buckets.append((float(labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
    slow = [f">{le * 1000:g} ms: {count - n:.0f}" for le, n in sorted(buckets) if le in (0.025, 0.05, 0.1, 0.25)]
    return f"{count:.0f} requests; " + ", ".join(slow)


TRACE: list[tuple[float, float]] = []
"""(seconds after the first request was due, latency in seconds) of each open-loop request."""


async def send_open(base_url: str, bodies, rate: float, clients: int) -> tuple[list[float], dict[int, int]]:
    """Open loop: batch k leaves at ``k * batch / rate`` s whatever came back; latency from that instant."""
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    limits = httpx.Limits(max_connections=clients * 8, max_keepalive_connections=clients * 8)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:

        async def one(due: float, key: str, body: bytes) -> None:
            r = await http.post(
                "/v1/events",
                content=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
            )
            latencies.append(time.perf_counter() - due)
            TRACE.append((due - t0, latencies[-1]))
            statuses[r.status_code] += 1

        t0, sent, tasks = time.perf_counter(), 0, []
        for key, body, n in bodies:
            due = t0 + sent / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due, key, body)))
            sent += n
        await asyncio.gather(*tasks)
    return latencies, statuses


def wait_persisted(conn: psycopg.Connection, batches: int, timeout_s: float) -> float:
    """Poll ``ingest_batches`` until every accepted batch is done (or parked); return that instant."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        (finished,) = conn.execute("SELECT count(*) FROM ingest_batches WHERE status IN ('done', 'parked')").fetchone()
        if finished >= batches:
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"batches not persisted within {timeout_s} s")


def measure_copy(conn: psycopg.Connection) -> tuple[int, float]:
    """Rows/s of ``COPY`` of the log's rows (same columns as ``usage_events``) into an unindexed table."""
    cols = "source, id, seq, type, tenant_id, contract_id, event_time, batch_id, persisted_at, data"
    buf = bytearray()
    with conn.cursor().copy(f"COPY (SELECT {cols} FROM usage_events) TO STDOUT") as copy:
        for chunk in copy:
            buf += chunk
    conn.execute("DROP TABLE IF EXISTS bench_copy")
    conn.execute("""CREATE TABLE bench_copy (source text NOT NULL, id text NOT NULL, seq bigint NOT NULL,
                    type text NOT NULL, tenant_id text NOT NULL, contract_id text, event_time timestamptz NOT NULL,
                    batch_id text NOT NULL, persisted_at timestamptz NOT NULL, data jsonb NOT NULL)""")
    view = memoryview(buf)
    t0 = time.perf_counter()
    with conn.cursor().copy(f"COPY bench_copy ({cols}) FROM STDIN") as copy:
        for i in range(0, len(view), 1 << 20):
            copy.write(view[i : i + (1 << 20)])
    elapsed = time.perf_counter() - t0
    (rows,) = conn.execute("SELECT count(*) FROM bench_copy").fetchone()
    conn.execute("DROP TABLE bench_copy")
    return rows, elapsed


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) so far of each part: API, workers, PostgreSQL, Valkey, this client;
    and, under ``<part> kernel``, the system time alone (a system call costs more in some sandboxes)."""
    import psutil

    kernel: dict[str, float] = {}

    def used(procs, part: str) -> float:
        total = system = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
                system += t.system
            except psutil.Error:
                pass
        kernel[f"{part} kernel"] = system
        return total

    client = "client" if not stack.in_process else "client+API+workers"
    parts = {client: used([psutil.Process()], client)}
    if not stack.in_process:
        parts["api"] = used([psutil.Process(stack.procs[0].pid)], "api")
        parts["workers"] = used((psutil.Process(p.pid) for p in stack.procs[1:]), "workers")
    pid_files = list(Path(stack.settings.data_dir).rglob("postmaster.pid"))
    if pid_files:
        master = psutil.Process(int(pid_files[0].read_text().split()[0]))
        parts["postgres"] = used([master, *master.children(recursive=True)], "postgres")
    parts["valkey"] = used((p for p in psutil.process_iter(["name"]) if "valkey" in (p.info["name"] or "")), "valkey")
    return parts | kernel


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    ap.add_argument("--batch", type=int, default=1000, help="events per request (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--worker-threads", type=int, default=Settings().worker_threads, help="threads per worker")
    ap.add_argument("--rate", type=float, default=None, help="offered load in events/s (open loop)")
    ap.add_argument("--in-process", action="store_true", help="LocalKashi threads instead of subprocesses")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=420, help="seconds to wait for persistence")
    ap.add_argument("--trace", default=None, help="with --rate: write 'due_s,latency_ms' per request to this CSV")
    args = ap.parse_args()

    t = time.perf_counter()
    by_source = make_events(args.events, args.seed)
    total = sum(map(len, by_source.values()))
    unique = len({(e["source"], e["id"]) for ev in by_source.values() for e in ev})
    gpu = sum(e["type"] == "gpu.usage" for ev in by_source.values() for e in ev)
    print(
        f"generated {total:,} events ({gpu:,} gpu.usage, {total - gpu:,} llm.tokens, {unique:,} unique, "
        f"{len(by_source)} sources) in {time.perf_counter() - t:.1f} s",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="kashi-bench-") as tmp:
        stack = Stack(Path(tmp), args.workers, args.worker_threads, args.in_process).start()
        try:
            with stack.engine.begin() as conn:
                keys = {s: create_key(conn, "agent", source=s) for s in by_source}
            bodies = make_bodies(by_source, args.batch, keys)
            # The generated events are millions of live objects: keep the client's garbage collector
            # from walking them mid-run (a full pass took ~400 ms and showed up as server latency).
            gc.collect()
            gc.freeze()
            mode = "in-process (LocalKashi)" if args.in_process else "subprocesses"
            print(
                f"stack: {mode}, API 1 process, {args.workers} worker(s) x {args.worker_threads} threads; "
                f"pids {stack.pids()}",
                flush=True,
            )
            pg = pg_connect(stack)
            wal0 = pg.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
            cpu0 = cpu_seconds(stack)
            t0 = time.perf_counter()
            if args.rate:
                latencies, statuses = asyncio.run(send_open(stack.base_url, bodies, args.rate, args.clients))
            else:
                latencies, statuses = asyncio.run(send_closed(stack.base_url, bodies, args.clients))
            t_sent = time.perf_counter()
            if set(statuses) != {202}:
                raise SystemExit(f"unexpected answers: {dict(statuses)}")
            t_done = wait_persisted(pg, len(bodies), args.timeout)
            cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_seconds(stack).items()}
            (persisted,) = pg.execute("SELECT count(*) FROM usage_events").fetchone()
            e2e = total / (t_done - t0)
            offered = f"offered {args.rate:,.0f} events/s (open loop)" if args.rate else f"{args.clients} clients"
            print(f"requests: {len(bodies):,} x {args.batch} events, {offered}; all 202")
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
            print(f"202 latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms")
            print(f"  as the API measured it: {server_latency(stack.base_url)}")
            if args.trace and TRACE:
                with open(args.trace, "w") as out:
                    out.writelines(f"{due:.3f},{lat * 1000:.1f}\n" for due, lat in sorted(TRACE))
            print(f"accepted (all 202): {t_sent - t0:.1f} s = {total / (t_sent - t0):,.0f} events/s")
            print(f"persisted: {persisted:,} rows (expected {unique:,}) after {t_done - t0:.1f} s")
            print(f"end to end: {e2e:,.0f} events/s")
            wall = t_done - t0
            print(
                "CPU during the run (s, share of 2 cores): "
                + ", ".join(
                    f"{k} {v:.1f} ({v / wall / (os.cpu_count() or 1):.0%}; kernel {cpu[k + ' kernel'] / v:.0%})"
                    for k, v in cpu.items()
                    if not k.endswith(" kernel") and v
                )
            )
            wal = [
                b - a
                for a, b in zip(
                    wal0, pg.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone(), strict=True
                )
            ]
            print(
                f"WAL: {wal[2] / total:,.0f} bytes per event ({wal[0] / total:.1f} records, "
                f"{wal[1] * 8192 / max(1, wal[2]):.0%} of it full-page images at most)"
            )
            (transactions,) = pg.execute("SELECT count(DISTINCT persisted_at) FROM usage_batches").fetchone()
            print(
                f"recording transactions: {transactions:,} ({len(bodies) / max(1, transactions):.1f} batches each: "
                "the batches a worker process holds at once are recorded together)"
            )
            rows, copy_s = measure_copy(pg)
            copy_rate = rows / copy_s
            print(
                f"raw COPY of the same {rows:,} rows into an unindexed table: {copy_s:.2f} s = {copy_rate:,.0f} rows/s"
            )
            print(f"ratio end to end / COPY: {e2e / copy_rate:.3f}")
            if persisted != unique:
                raise SystemExit("persisted row count differs from unique events sent")
            pg.close()
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
