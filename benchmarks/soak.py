"""Fault-injection soak (issue 12, item 6): events through the API while processes die, then proof
that nothing acknowledged was lost and nothing was counted twice.

    python benchmarks/soak.py                                   # 1,000,000 events, 8 agents
    python benchmarks/soak.py --events 100000 --rate 1500       # a smaller run, paced to last ~70 s

Everything is real and laid out as ``kashi up`` runs it: the embedded PostgreSQL and Valkey under a
temporary data dir, one API process (``python -m kashi.cli api``) and ``--workers`` worker
processes. ``--agents`` concurrent agents (asyncio clients, one agent key per node) send the
events of :func:`ingest.make_events` (64 nodes, 5 % resends, 5 % overlaps) in batches; a batch not
answered 202 (error, timeout, refused connection) is sent again, after a backoff, until it is.

Meanwhile the script SIGKILLs a worker every ``--kill-worker-every`` seconds (20) and starts a
replacement, restarts Valkey once (at 25 % of the events sent), SIGKILLs the API once (at 50 %,
restarted after a second on the same port) and restarts PostgreSQL once (at 75 %). The servers
come back on the same ports, so every process keeps its URLs.

At the end it waits for the queue to drain, then checks: ``usage_events`` holds exactly the unique
``(source, id)`` of the acknowledged batches (lost = acknowledged but absent, unexpected = stored
but never acknowledged, duplicated = rows beyond one per ``(source, id)``), no batch is parked,
and ``kashi replay --verify`` (every projection, rollups included, rebuilt from the log and
compared) passes. Exit 0 only if all hold. Not a timed test: figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import psycopg
from ingest import make_events

from kashi.db import make_engine
from kashi.embedded import EmbeddedPostgres, EmbeddedValkey
from kashi.keys import create_key
from kashi.lifeline import die_with_parent
from kashi.local import free_port
from kashi.migrate import upgrade
from kashi.settings import Settings
from workers.broker import INGEST_QUEUE, make_broker

KASHI = [sys.executable, "-m", "kashi.cli"]
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {message}", flush=True)


class Cluster:
    """Servers and Kashi processes that the soak can kill and restart one by one."""

    def __init__(self, data_dir: Path, workers: int, threads: int):
        self.data_dir, self.n_workers, self.threads = data_dir, workers, threads
        self.postgres, self.valkey = EmbeddedPostgres(data_dir), EmbeddedValkey(data_dir)
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.port = free_port()
        self.kills = Counter()

    def start(self) -> Cluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url, self.redis_url = self.postgres.start(), self.valkey.start()
        self.engine = make_engine(self.database_url, pool_size=2)
        upgrade(self.engine)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KASHI_")},
            "KASHI_DATABASE_URL": self.database_url,
            "KASHI_REDIS_URL": self.redis_url,
            "KASHI_DATA_DIR": str(self.data_dir),
            "KASHI_WORKER_THREADS": str(self.threads),
            "KASHI_LOG_LEVEL": "WARNING",
        }
        self.start_api()
        for _ in range(self.n_workers):
            self.workers.append(self._spawn("worker"))
        self.wait_healthy()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, *args: str) -> subprocess.Popen:
        """A Kashi process; its logs go to ``<data_dir>/<role>.log``. Spawned from the main thread it dies
        with this script; from a fault thread it must not (the kernel's parent-death signal follows the
        thread that forked, and that thread ends before the script does): :meth:`stop` ends it."""
        on_main = threading.current_thread() is threading.main_thread()
        with open(self.data_dir / f"{args[0]}.log", "a") as log:
            return subprocess.Popen(
                [*KASHI, *args],
                env=self.env,
                preexec_fn=die_with_parent() if on_main else None,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def start_api(self) -> None:
        self.api = self._spawn("api", "--port", str(self.port))

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline, last = time.monotonic() + timeout_s, "no answer"
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.base_url}/healthz", timeout=1)
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"Kashi did not become healthy: {last}")

    def kill_worker(self) -> None:
        victim = self.workers.pop(0)
        victim.kill()
        victim.wait()
        self.workers.append(self._spawn("worker"))
        self.kills["worker SIGKILL"] += 1
        say(f"SIGKILLed worker pid {victim.pid}; started pid {self.workers[-1].pid}")

    def kill_api(self) -> None:
        self.api.kill()
        self.api.wait()
        self.kills["API SIGKILL"] += 1
        say(f"SIGKILLed the API (pid {self.api.pid})")
        time.sleep(1)
        self.start_api()
        say(f"restarted the API (pid {self.api.pid})")

    def restart_valkey(self) -> None:
        t = time.monotonic()
        self.valkey.stop()
        if self.valkey.start() != self.redis_url:
            raise RuntimeError("Valkey came back on another port")
        self.kills["Valkey restart"] += 1
        say(f"restarted Valkey ({time.monotonic() - t:.1f} s down)")

    def restart_postgres(self) -> None:
        t = time.monotonic()
        self.postgres.stop()
        if self.postgres.start() != self.database_url:
            raise RuntimeError("PostgreSQL came back on another port")
        self.kills["PostgreSQL restart"] += 1
        say(f"restarted PostgreSQL ({time.monotonic() - t:.1f} s down)")

    def stop(self) -> None:
        for process in [self.api, *self.workers]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.api, *self.workers]:
            if process is not None:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.engine.dispose()
        self.valkey.stop()
        self.postgres.stop()


def make_batches(by_source: dict[str, list[dict]], batch: int, keys: dict[str, str]):
    """``(key, body, ids)`` per request, nodes interleaved as concurrent agents would send."""
    per_source = [
        [
            (keys[s], orjson.dumps(ev[i : i + batch]), [(e["source"], e["id"]) for e in ev[i : i + batch]])
            for i in range(0, len(ev), batch)
        ]
        for s, ev in by_source.items()
    ]
    batches = []
    for k in range(max(map(len, per_source))):
        batches.extend(p[k] for p in per_source if k < len(p))
    return batches


class Agents:
    """Concurrent agents that send every batch until it is acknowledged (202)."""

    def __init__(self, base_url: str, batches: list, agents: int, rate: float | None):
        self.base_url, self.batches, self.agents, self.rate = base_url, batches, agents, rate
        self.acknowledged = [False] * len(batches)
        self.answers: Counter = Counter()
        self.dispatched = 0
        self.total = sum(len(ids) for _, _, ids in batches)
        self.retried_batches = 0

    async def run(self) -> None:
        queue = iter(range(len(self.batches)))
        start = time.monotonic()

        async def agent() -> None:
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
            async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as http:
                for index in queue:
                    key, body, ids = self.batches[index]
                    if self.rate:
                        await asyncio.sleep(max(0.0, start + self.dispatched / self.rate - time.monotonic()))
                    self.dispatched += len(ids)
                    await self._send_until_acknowledged(http, index, key, body)

        await asyncio.gather(*(agent() for _ in range(self.agents)))

    async def _send_until_acknowledged(self, http: httpx.AsyncClient, index: int, key: str, body: bytes) -> None:
        backoff, attempts = 0.1, 0
        while True:
            attempts += 1
            try:
                answer = await http.post(
                    "/v1/events",
                    content=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"},
                )
                self.answers[str(answer.status_code)] += 1
                if answer.status_code == 202:
                    self.acknowledged[index] = True
                    self.retried_batches += attempts > 1
                    return
            except httpx.HTTPError as exc:
                self.answers[type(exc).__name__] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


async def inject_faults(cluster: Cluster, agents: Agents, every_s: float, done: asyncio.Event) -> None:
    """A worker SIGKILL every ``every_s`` s; Valkey, the API and PostgreSQL once each, at 25/50/75 %."""
    once = [(0.25, cluster.restart_valkey), (0.50, cluster.kill_api), (0.75, cluster.restart_postgres)]
    next_worker_kill = time.monotonic() + every_s
    while not done.is_set():
        await asyncio.sleep(0.2)
        progress = agents.dispatched / agents.total
        if once and progress >= once[0][0]:
            await asyncio.to_thread(once.pop(0)[1])
        if time.monotonic() >= next_worker_kill:
            await asyncio.to_thread(cluster.kill_worker)
            next_worker_kill += every_s
    for _, fault in once:  # a run too short to reach a mark still gets every fault
        await asyncio.to_thread(fault)


async def soak(cluster: Cluster, agents: Agents, every_s: float) -> None:
    done = asyncio.Event()
    faults = asyncio.create_task(inject_faults(cluster, agents, every_s, done))
    await agents.run()
    done.set()
    await faults


def drain(cluster: Cluster, agents: Agents, timeout_s: float) -> None:
    """Wait until the queue is empty and every acknowledged event is stored, or ``timeout_s``.

    ``join`` sees the queue and this broker's own unacknowledged messages, not those a SIGKILLed
    worker held: the broker requeues them once its heartbeat is ``KASHI_HEARTBEAT_TIMEOUT_MS`` old.
    So it also waits for the log to hold what was acknowledged, and for no batch to be unfinished."""
    expected = len({pair for i, (_, _, ids) in enumerate(agents.batches) if agents.acknowledged[i] for pair in ids})
    broker = make_broker(cluster.redis_url)
    deadline = time.monotonic() + timeout_s
    try:
        with psycopg.connect(
            cluster.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        ) as conn:
            while time.monotonic() < deadline:
                broker.join(INGEST_QUEUE, timeout=int(max(1.0, deadline - time.monotonic()) * 1000))
                (stored,) = conn.execute("SELECT count(*) FROM usage_events").fetchone()
                (unfinished,) = conn.execute(
                    "SELECT count(*) FROM ingest_batches WHERE status NOT IN ('done', 'parked')"
                ).fetchone()
                if stored >= expected and not unfinished:
                    return
                time.sleep(1)
    finally:
        broker.close()
    say(f"drain timed out after {timeout_s:.0f} s")


def check(cluster: Cluster, agents: Agents) -> dict:
    acknowledged = {pair for i, (_, _, ids) in enumerate(agents.batches) if agents.acknowledged[i] for pair in ids}
    with psycopg.connect(cluster.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        stored = set(conn.execute("SELECT source, id FROM usage_events").fetchall())
        (rows,) = conn.execute("SELECT count(*) FROM usage_events").fetchone()
        batches = dict(conn.execute("SELECT status, count(*) FROM ingest_batches GROUP BY status").fetchall())
    verify = subprocess.run([*KASHI, "replay", "--verify"], env=cluster.env, capture_output=True, text=True)
    return {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(acknowledged - stored),
        "unexpected": len(stored - acknowledged),
        "duplicated": rows - len(stored),
        "batches": batches,
        "replay_verify": verify.returncode == 0,
        "replay_output": (verify.stdout + verify.stderr).strip().splitlines()[-3:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--agents", type=int, default=8, help="concurrent agents (default 8)")
    ap.add_argument("--batch", type=int, default=1000, help="events per request (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--worker-threads", type=int, default=Settings().worker_threads, help="threads per worker")
    ap.add_argument("--rate", type=float, default=None, help="pace the agents to N events/s (default: flat out)")
    ap.add_argument("--kill-worker-every", type=float, default=20.0, help="seconds between worker SIGKILLs")
    ap.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the queue to drain")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--keep", action="store_true", help="keep the data dir (always kept when a check fails)")
    args = ap.parse_args()

    by_source = make_events(args.events, args.seed)
    total = sum(map(len, by_source.values()))
    say(f"generated {total:,} events from {len(by_source)} nodes")
    data_dir = Path(tempfile.mkdtemp(prefix="kashi-soak-"))
    cluster = Cluster(data_dir, args.workers, args.worker_threads).start()
    ok = False
    try:
        with cluster.engine.begin() as conn:
            keys = {source: create_key(conn, "agent", source=source) for source in by_source}
        agents = Agents(cluster.base_url, make_batches(by_source, args.batch, keys), args.agents, args.rate)
        say(
            f"{len(agents.batches):,} batches of up to {args.batch}, {args.agents} agents, "
            f"{args.workers} workers x {args.worker_threads} threads, data dir {data_dir}"
        )
        t_send = time.monotonic()
        asyncio.run(soak(cluster, agents, args.kill_worker_every))
        sent_s = time.monotonic() - t_send
        say(f"every batch acknowledged after {sent_s:.1f} s ({total / sent_s:,.0f} events/s); draining the queue")
        cluster.wait_healthy(120)
        drain(cluster, agents, args.drain_timeout)
        say(f"queue drained {time.monotonic() - t_send:.1f} s after the first request; checking")
        result = check(cluster, agents)
        faults = ", ".join(f"{kind} ×{n}" for kind, n in cluster.kills.items())
        print(f"faults: {faults}")
        print(f"answers: {dict(agents.answers)}; batches sent more than once: {agents.retried_batches:,}")
        print(f"ingest batches by status: {result['batches']}")
        print(f"acknowledged unique (source, id): {result['acknowledged']:,}; stored: {result['stored']:,}")
        print(f"lost: {result['lost']:,}  duplicated: {result['duplicated']:,}  unexpected: {result['unexpected']:,}")
        print(
            f"kashi replay --verify: {'passed' if result['replay_verify'] else 'FAILED'} "
            f"({' / '.join(result['replay_output'])})"
        )
        ok = (
            result["lost"] == result["duplicated"] == result["unexpected"] == 0
            and result["replay_verify"]
            and not result["batches"].get("parked")
            and set(result["batches"]) <= {"done"}
            and result["acknowledged"] == len({(e["source"], e["id"]) for ev in by_source.values() for e in ev})
        )
        print("SOAK PASSED" if ok else "SOAK FAILED")
    finally:
        cluster.stop()
        if ok and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data dir kept: {data_dir}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
