"""Past one process (issue 17): two API processes and three worker processes against one PostgreSQL and
one Valkey record every event exactly once — each batch sent to both APIs, GPU time reported twice by
two nodes — and the close and `kashi replay --verify` agree with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from billing.core.periods import Period
from billing.services.close import close_tenant
from billing.services.replay import verify_all
from kashi.local import free_port
from tests.integration.billing_scenario import contract, sign

pytestmark = pytest.mark.slow
KASHI = [sys.executable, "-m", "kashi.cli"]
START = datetime(2026, 10, 5, tzinfo=UTC)
H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50", "committed_card_hours": "1"}


def _event(source: str, n: int, tenant: str, gpu: str, start: datetime, seconds: int) -> dict:
    end = start + timedelta(seconds=seconds)
    return {
        "specversion": "1.0",
        "id": f"e{n}",
        "source": source,
        "type": "gpu.usage",
        "subject": tenant,
        "time": end.isoformat(),
        "data": {
            "node": source,
            "gpu": gpu,
            "gpu_model": "H100-SXM",
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
    }


def _union_seconds(intervals: list[tuple[datetime, datetime]]) -> int:
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start >= reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return int(total)


def _healthy(url: str, procs: list[subprocess.Popen], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a process exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


def test_two_api_and_three_worker_processes_record_every_event_exactly_once(kashi, uid, new_tenant, tmp_path):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    env.update(
        KASHI_DATABASE_URL=kashi.servers.database_url,
        KASHI_REDIS_URL=kashi.servers.redis_url,
        KASHI_DATA_DIR=str(tmp_path / "data"),
        KASHI_LOG_LEVEL="WARNING",
    )
    ports = [free_port(), free_port()]
    log = open(tmp_path / "processes.log", "a")  # noqa: SIM115 (closed below)
    procs = [subprocess.Popen([*KASHI, "api", "--port", str(p)], env=env, stdout=log, stderr=log) for p in ports]
    procs += [subprocess.Popen([*KASHI, "worker"], env=env, stdout=log, stderr=log) for _ in range(3)]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url in urls:
            _healthy(url, procs)
        # two nodes report the same two GPUs in 10-minute windows, the second shifted by 5 minutes
        sources = [f"node/{uid}-a", f"node/{uid}-b"]
        events = {
            source: [
                _event(source, n, new_tenant, f"{uid}-G{n % 2}", START + timedelta(minutes=10 * (n // 2) + 5 * k), 600)
                for n in range(60)
            ]
            for k, source in enumerate(sources)
        }
        keys = {source: kashi.key("agent", source=source) for source in sources}
        posts = [
            (url, source, events[source][i : i + 10]) for source in sources for i in range(0, 60, 10) for url in urls
        ]  # every batch to both APIs

        def post(job):
            url, source, batch = job
            answer = httpx.post(
                f"{url}/v1/events", json=batch, timeout=60, headers={"Authorization": f"Bearer {keys[source]}"}
            )
            return answer.status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, posts)) == {202}
        per_gpu = {
            gpu: [
                (datetime.fromisoformat(e["data"]["start"]), datetime.fromisoformat(e["data"]["end"]))
                for source in sources
                for e in events[source]
                if e["data"]["gpu"] == gpu
            ]
            for gpu in (f"{uid}-G0", f"{uid}-G1")
        }
        expected = sum(_union_seconds(spans) for spans in per_gpu.values())

        def recorded():
            with kashi.engine.connect() as conn:
                return conn.execute(
                    text("""
                    SELECT (SELECT count(*) FROM usage_events WHERE source = ANY(:s)),
                           (SELECT coalesce(sum(end_s - start_s), 0) FROM gpu_coverage WHERE tenant_id = :t),
                           (SELECT coalesce(sum(card_seconds), 0) FROM gpu_hourly WHERE tenant_id = :t)"""),
                    {"s": sources, "t": new_tenant},
                ).one()

        deadline = time.monotonic() + 120
        while tuple(recorded()) != (120, expected, expected) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # nothing more arrives: the duplicate batches changed nothing
        assert tuple(recorded()) == (120, expected, expected)
        assert expected == 2 * (30 * 600 + 300)  # each GPU: 30 windows and the last one's 5-minute tail

        ids = close_tenant(kashi.engine, new_tenant, Period(2026, 10))
        with kashi.engine.connect() as conn:
            quantity = conn.execute(
                text("""SELECT sum(quantity) FROM invoice_lines WHERE invoice_id = ANY(:i)
                                            AND kind = 'gpu_hour'"""),
                {"i": ids},
            ).scalar()
        assert abs(quantity * 3600 - expected) < 1, quantity  # billed card-hours: each GPU-second once
        assert [d for d in verify_all(kashi.engine) if new_tenant in d] == []
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
