"""At-least-once delivery made exactly-once: races, crashes and poison batches (SPEC §3, issue 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from kashi.errors import Unavailable
from kashi.settings import Settings
from metering.events import validate_batch
from metering.record import record
from metering.store import gpu_lock_key
from tests.integration.test_ingest import card_seconds, events_logged, gpu_event
from tests.waiting import wait_until
from workers.broker import INGEST_QUEUE, enqueue_usage, make_broker
from workers.run import RunningWorker


def rows(events):
    return [r.to_wire() for r in validate_batch(events)]


def test_two_workers_racing_on_one_gpu_count_each_second_once(kashi, uid, new_tenant):
    batches = [
        rows(
            [
                gpu_event(
                    uid,
                    f"a{i}",
                    tenant=new_tenant,
                    start=f"2026-10-01T0{i}:00:00+08:00",
                    end=f"2026-10-01T0{i + 2}:00:00+08:00",
                )
                for i in range(0, 6, 2)
            ]
        ),
        rows(
            [
                gpu_event(
                    uid,
                    f"b{i}",
                    tenant=new_tenant,
                    start=f"2026-10-01T0{i}:30:00+08:00",
                    end=f"2026-10-01T0{i + 1}:30:00+08:00",
                )
                for i in range(0, 7)
            ]
        ),
    ]
    barrier = threading.Barrier(len(batches))

    def run(i):
        barrier.wait()
        record(kashi.engine, f"race-{uid}-{i}", batches[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # union of [0,6h) and [0:30, 7:30) → [0, 7:30)
    assert card_seconds(kashi, new_tenant) == 7 * 3600 + 1800


def test_worker_killed_mid_batch_loses_nothing_once_another_worker_runs(kashi, uid, new_tenant):
    namespace = f"kill-{uid}"
    settings = Settings(data_dir=kashi.settings.data_dir, queue_namespace=namespace, heartbeat_timeout_ms=2000)
    events = [gpu_event(uid, i, tenant=new_tenant, gpu=f"G{i}") for i in range(20)]
    broker = make_broker(kashi.servers.redis_url, namespace=namespace, heartbeat_timeout_ms=2000)
    enqueue_usage(broker, f"kill-{uid}", rows(events))
    env = {
        **os.environ,
        "KASHI_DATABASE_URL": kashi.servers.database_url,
        "KASHI_REDIS_URL": kashi.servers.redis_url,
        "KASHI_QUEUE_NAMESPACE": namespace,
        "KASHI_HEARTBEAT_TIMEOUT_MS": "2000",
    }
    # Hold one GPU's lock so the worker blocks in the middle of the batch's transaction.
    with kashi.engine.connect() as blocker:
        blocker.execute(text("SELECT pg_advisory_lock(:k)"), {"k": gpu_lock_key(f"{uid}-G7")})
        worker = subprocess.Popen([sys.executable, "-m", "kashi.cli", "worker"], env=env)
        wait_until(
            lambda: blocker.execute(
                text(  # the worker is stuck inside the batch
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
            ).scalar_one(),
            "the worker to reach the batch",
            60,
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        blocker.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": gpu_lock_key(f"{uid}-G7")})
        blocker.commit()
    assert events_logged(kashi, f"node/{uid}") == 0  # the killed transaction left nothing
    survivor = RunningWorker(settings, kashi.servers.database_url, kashi.servers.redis_url, threads=1)
    try:
        survivor.broker.join(INGEST_QUEUE, timeout=60_000)
        survivor.worker.join()
    finally:
        survivor.stop()
        broker.close()
    assert events_logged(kashi, f"node/{uid}") == 20
    assert card_seconds(kashi, new_tenant) == 20 * 3600


def test_batch_delivered_too_often_is_parked_and_listed(kashi, operator_client, uid, new_tenant):
    batch = rows([gpu_event(uid, 1, tenant=new_tenant)])
    with kashi.engine.begin() as conn:  # five earlier deliveries that each died mid-batch
        conn.execute(
            text("INSERT INTO ingest_batches (batch_id, status, attempts, events) VALUES (:b, 'processing', 5, 1)"),
            {"b": f"poison-{uid}"},
        )
    assert record(kashi.engine, f"poison-{uid}", batch, max_attempts=5).status == "parked"
    assert record(kashi.engine, f"poison-{uid}", batch, max_attempts=5).status == "parked"
    parked = operator_client.get("/v1/ingest/parked").json()["items"]
    assert [p["attempts"] for p in parked if p["batch_id"] == f"poison-{uid}"] == [7]
    assert card_seconds(kashi, new_tenant) == 0


def test_an_acknowledged_batch_survives_a_valkey_crash(kashi, uid, new_tenant, tmp_path):
    from kashi.embedded import EmbeddedValkey

    valkey = EmbeddedValkey(tmp_path)  # its own server: the session's keeps serving the other tests
    url = valkey.start()
    namespace = f"crash-{uid}"
    events = [gpu_event(uid, i, tenant=new_tenant, gpu=f"G{i}") for i in range(20)]
    broker = make_broker(url, namespace=namespace, heartbeat_timeout_ms=2000)
    enqueue_usage(broker, f"crash-{uid}", rows(events))  # returns once WAITAOF confirmed the fsync
    broker.close()
    pid = int((valkey.dir / "valkey.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # no shutdown, no final fsync
    wait_until(lambda: valkey.running_port() is None, "the killed Valkey to be gone", 30)
    assert valkey.start() == url  # back on the same address, from its append-only file
    settings = Settings(data_dir=tmp_path, queue_namespace=namespace, heartbeat_timeout_ms=2000)
    worker = RunningWorker(settings, kashi.servers.database_url, url, threads=1)
    try:
        worker.broker.join(INGEST_QUEUE, timeout=60_000)
        worker.worker.join()
    finally:
        worker.stop()
        valkey.stop()
    assert events_logged(kashi, f"node/{uid}") == 20
    assert card_seconds(kashi, new_tenant) == 20 * 3600


def test_an_enqueue_sends_no_script_check_and_survives_a_server_that_forgot_its_scripts(kashi, uid, tmp_path):
    """The enqueue pipeline runs EVALSHA directly (no SCRIPT EXISTS round trip per request); after
    the server loses its scripts (a restart, SCRIPT FLUSH) the next enqueue loads the script and
    sends its pipeline again: one message, one receipt, acknowledged once."""
    from kashi.embedded import EmbeddedValkey
    from metering.receipts import Receipts, receipt_for

    valkey = EmbeddedValkey(tmp_path)  # its own server: SCRIPT FLUSH must not touch the session's
    url = valkey.start()
    namespace = f"flush-{uid}"
    broker = make_broker(url, namespace=namespace, heartbeat_timeout_ms=2000)
    receipts = Receipts(broker.client, namespace)
    batch = rows([gpu_event(uid, 1, tenant=f"t-{uid}")])

    def script_checks() -> int:
        return int(broker.client.info("commandstats").get("cmdstat_script|exists", {}).get("calls", 0))

    def queued() -> int:
        return broker.client.hlen(f"{namespace}:{INGEST_QUEUE}.msgs")

    try:
        enqueue_usage(broker, f"a-{uid}", batch, receipt_for(f"a-{uid}", 1, "key", {f"t-{uid}"}), receipts)
        checks = script_checks()
        enqueue_usage(broker, f"b-{uid}", batch, receipt_for(f"b-{uid}", 1, "key", {f"t-{uid}"}), receipts)
        assert script_checks() == checks and queued() == 2
        broker.client.script_flush()
        enqueue_usage(broker, f"c-{uid}", batch, receipt_for(f"c-{uid}", 1, "key", {f"t-{uid}"}), receipts)
        assert queued() == 3
        assert receipts.pending() == [f"a-{uid}", f"b-{uid}", f"c-{uid}"]
        assert receipts.get(f"c-{uid}")["events"] == 1
    finally:
        broker.close()
        valkey.stop()


def test_an_enqueue_that_fails_leaves_no_receipt_for_a_close_to_wait_on(kashi, uid, monkeypatch):
    """The receipt is written after the message, by a script that writes it only if the message
    was queued: when the enqueue script fails (here the server has forgotten it and cannot be given
    it again), the client is told the queue is unavailable and no receipt is left pending, which
    every close of the batch's tenants would otherwise wait on and refuse to pass."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from metering.receipts import Receipts, receipt_for

    namespace = f"fails-{uid}"
    broker = make_broker(kashi.servers.redis_url, namespace=namespace, heartbeat_timeout_ms=2000)
    receipts = Receipts(broker.client, namespace)
    batch = rows([gpu_event(uid, 1, tenant=f"t-{uid}")])
    try:
        enqueue_usage(broker, f"a-{uid}", batch, receipt_for(f"a-{uid}", 1, "key", {f"t-{uid}"}), receipts)
        broker.scripts["dispatch"].sha = "0" * 40  # a script the server does not know

        def refuse(script):
            raise RedisConnectionError("the connection dropped while loading the script")

        monkeypatch.setattr(broker.client, "script_load", refuse)
        with pytest.raises(Unavailable):
            enqueue_usage(broker, f"b-{uid}", batch, receipt_for(f"b-{uid}", 1, "key", {f"t-{uid}"}), receipts)
        assert broker.client.hlen(f"{namespace}:{INGEST_QUEUE}.msgs") == 1
        assert receipts.pending() == [f"a-{uid}"]
        assert receipts.get(f"b-{uid}") is None
    finally:
        broker.close()


def test_a_batch_queued_while_postgresql_is_down_is_recorded_once_it_is_back(uid, tmp_path):
    from sqlalchemy import text as sql

    from billing.services import tenants
    from kashi.db import make_engine
    from kashi.embedded import EmbeddedServers
    from kashi.migrate import upgrade

    servers = EmbeddedServers(tmp_path)  # its own PostgreSQL: the session's keeps serving the other tests
    db_url, redis_url = servers.start()
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        tenants.create(conn, {"id": "t-pg", "name": "PG restart"}, actor="test")
    settings = Settings(data_dir=tmp_path, heartbeat_timeout_ms=2000)
    worker = RunningWorker(settings, db_url, redis_url, threads=1)
    try:
        servers.postgres.stop()
        with pytest.raises(Unavailable), engine.connect() as conn:  # never a driver error: the API answers 503
            conn.execute(sql("SELECT 1"))
        broker = make_broker(redis_url, namespace=settings.queue_namespace)
        enqueue_usage(broker, f"pg-{uid}", rows([gpu_event(uid, i, tenant="t-pg", gpu=f"G{i}") for i in range(5)]))
        broker.close()
        delayed = f"{settings.queue_namespace}:{INGEST_QUEUE}.DQ.msgs"  # where dramatiq parks a retry
        # the worker failed on it while the database was away
        wait_until(lambda: worker.broker.client.hlen(delayed), "the worker to try the batch", 60)
        assert servers.postgres.start() == db_url
        worker.broker.join(INGEST_QUEUE, timeout=90_000)
        worker.worker.join()
        with engine.connect() as conn:
            logged = conn.execute(sql("SELECT count(*) FROM usage_events WHERE tenant_id = 't-pg'")).scalar_one()
            seconds = conn.execute(
                sql("SELECT sum(card_seconds) FROM gpu_hourly WHERE tenant_id = 't-pg'")
            ).scalar_one()
        assert (logged, seconds) == (5, 5 * 3600)
    finally:
        worker.stop()
        engine.dispose()
        servers.stop()
