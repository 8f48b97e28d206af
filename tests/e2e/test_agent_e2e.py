"""The node agent against a real Kashi (issue 7; SPEC §3, §9): DCGM page in, rollups out.

A real agent process reads a recorded DCGM exporter page (Kubernetes labels) from a local HTTP
server and sends to the session's real API, worker, PostgreSQL and Valkey. What the agent
produced is read from its own spool: before the agent first opens it, the test adds a trigger
that copies every row entering ``pending`` into a ``produced`` table in the same transaction
(the spool creates its tables only if missing). That log is exact even for an agent that is
SIGKILLed, so the server's rollups are compared with the interval union of what the agent made.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from metering.agent.spool import SCHEMA
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DCGM_PAGE = REPO / "tests" / "fixtures" / "agent" / "dcgm-exporter-4.1-k8s-hostname.prom"
WINDOW_S = 2  # divides a day; a window closes every two seconds, so the test takes seconds
SAMPLE_S = 0.25
GPUS_PER_TENANT_A = 4  # namespace team-a: pods llm-train-0 and llm-train-1, two GPUs each
GPUS_PER_TENANT_B = 1  # namespace research: notebook-7f9c
HELD = GPUS_PER_TENANT_A + GPUS_PER_TENANT_B

AUDIT_TABLE = "CREATE TABLE produced (source TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL);"
AUDIT_TRIGGER = """CREATE TRIGGER record_produced AFTER INSERT ON pending
BEGIN INSERT INTO produced (source, id, body) VALUES (NEW.source, NEW.id, NEW.body); END;"""


# --- the node: a DCGM exporter page with fresh GPU UUIDs ------------------------------------
def fresh_dcgm_page() -> tuple[str, dict[str, str]]:
    """The recorded page with every GPU UUID replaced; returns (page, {new uuid: namespace})."""
    page = DCGM_PAGE.read_text(encoding="utf-8")
    renamed: dict[str, str] = {}
    page = re.sub(r"GPU-[0-9a-f-]+", lambda m: renamed.setdefault(m.group(0), f"GPU-{uuid.uuid4()}"), page)
    namespaces = {}
    for line in page.splitlines():
        found = re.search(r'UUID="(GPU-[^"]+)".*namespace="([^"]*)"', line)
        if found:
            namespaces[found.group(1)] = found.group(2)
    return page, namespaces


class _Exporter(BaseHTTPRequestHandler):
    page = b""

    def log_message(self, *args) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)


@pytest.fixture
def dcgm_exporter():
    """A DCGM exporter on 127.0.0.1; yields (metrics URL, {GPU uuid: namespace})."""
    page, namespaces = fresh_dcgm_page()
    handler = type("Handler", (_Exporter,), {"page": page.encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", namespaces
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def tenants(kashi, new_tenant, uid) -> tuple[str, str]:
    """Two fresh tenants: team-a's namespace bills to the first, research's to the second."""
    from billing.services import tenants as tenant_service

    second = f"t-{uid}-r"
    with kashi.engine.begin() as conn:
        tenant_service.create(conn, {"id": second, "name": f"Research {uid}"}, actor="test")
    return new_tenant, second


# --- the agent --------------------------------------------------------------------------------
class Node:
    """One agent's files: config, spool (with the audit trigger) and a log per run."""

    def __init__(self, tmp_path: Path, *, source: str, server: str, key: str, dcgm_url: str, tenants) -> None:
        self.source = source
        self.dir = tmp_path
        self.spool_dir = tmp_path / "spool"
        self.spool_dir.mkdir()
        db = sqlite3.connect(self.spool_dir / "spool.sqlite3")
        try:
            db.executescript(SCHEMA + AUDIT_TABLE + AUDIT_TRIGGER)
        finally:
            db.close()
        self.config = tmp_path / "agent.toml"
        self.config.write_text(
            f"""
source = "{source}"
server = "{server}"
key = "{key}"
window_seconds = {WINDOW_S}
sample_seconds = {SAMPLE_S}
timezone = "Asia/Shanghai"
log_level = "INFO"

[gpu]
collector = "dcgm"
url = "{dcgm_url}"

[allocation]
source = "kubernetes"
unmapped = "ignore"
[allocation.namespaces]
team-a = "{tenants[0]}"
research = "{tenants[1]}"

[spool]
dir = "{self.spool_dir}"

[metrics]
port = 0
""",
            encoding="utf-8",
        )
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str) -> tuple[subprocess.Popen, Path]:
        """A real agent process (``python -m metering.agent run``); its JSON log goes to a file."""
        log = self.dir / f"agent-{len(self.processes) + 1}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "metering.agent", "run", "--config", str(self.config), *args],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.processes.append(process)
        return process, log

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def query(self, sql: str) -> list[tuple]:
        db = sqlite3.connect(self.spool_dir / "spool.sqlite3", timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def produced(self, type_: str = "gpu.usage") -> list[dict]:
        """The `type_` events the agent spooled (gpu.status, SPEC §15, are checked on their own)."""
        events = [json.loads(body) for (body,) in self.query("SELECT body FROM produced ORDER BY rowid")]
        return [e for e in events if e["type"] == type_]

    def ids(self, table: str) -> set[str]:
        """Ids of the gpu.usage events in `table` (a gpu.status id has ``-status-`` in it)."""
        return {event_id for (event_id,) in self.query(f"SELECT id FROM {table}") if "-status-" not in event_id}


@pytest.fixture
def node(kashi, uid, tenants, dcgm_exporter, tmp_path):
    """An agent for source ``node/{uid}`` with its own key; any process it left running is killed."""
    source = f"node/{uid}"
    made = Node(
        tmp_path,
        source=source,
        server=kashi.base_url,
        key=kashi.key("agent", source=source),
        dcgm_url=dcgm_exporter[0],
        tenants=tenants,
    )
    yield made
    made.kill_all()


def logged(log: Path, message: str) -> bool:
    return f'"message": "{message}"' in log.read_text(encoding="utf-8", errors="replace")


# --- what the server must hold ----------------------------------------------------------------
def epoch(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339).timestamp())


def expected_gpu_hourly(events: list[dict]) -> dict[tuple[str, str, int], int]:
    """(tenant, gpu_model, UTC hour start) → card-seconds: per GPU the union of its intervals."""
    spans: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for e in events:
        spans[(e["subject"], e["data"]["gpu_model"], e["data"]["gpu"])].append(
            (epoch(e["data"]["start"]), epoch(e["data"]["end"]))
        )
    totals: dict[tuple[str, str, int], int] = defaultdict(int)
    for (tenant, model, _gpu), intervals in spans.items():
        merged: list[list[int]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            t = start
            while t < end:
                hour = t // 3600 * 3600
                piece_end = min(end, hour + 3600)
                totals[(tenant, model, hour)] += piece_end - t
                t = piece_end
    return dict(totals)


def server_gpu_hourly(kashi, tenants) -> dict[tuple[str, str, int], int]:
    with kashi.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tenant_id, gpu_model, hour, SUM(card_seconds) FROM gpu_hourly "
                "WHERE tenant_id = ANY(:tenants) GROUP BY tenant_id, gpu_model, hour"
            ),
            {"tenants": list(tenants)},
        ).all()
    return {(t, m, int(h)): int(s) for t, m, h, s in rows if s}


def server_events(kashi, source: str, type_: str = "gpu.usage") -> list[tuple[str, str, dict]]:
    with kashi.engine.connect() as conn:
        return [
            (row.id, row.tenant_id, row.data)
            for row in conn.execute(
                text("SELECT id, tenant_id, data FROM usage_events WHERE source = :source AND type = :type"),
                {"source": source, "type": type_},
            )
        ]


def assert_agent_made_the_right_events(produced: list[dict], namespaces: dict[str, str], tenants) -> None:
    """One GPU per interval, held GPUs only, billed to their namespace's tenant, catalog model name."""
    tenant_of = {"team-a": tenants[0], "research": tenants[1]}
    held = {gpu: tenant_of[ns] for gpu, ns in namespaces.items() if ns in tenant_of}
    assert len(held) == HELD
    assert {e["data"]["gpu"] for e in produced} == set(held)
    for e in produced:
        assert e["type"] == "gpu.usage"
        assert e["subject"] == held[e["data"]["gpu"]]
        assert e["data"]["gpu_model"] == "H100-SXM"
        assert epoch(e["data"]["end"]) > epoch(e["data"]["start"])
        assert "utilization" in e["data"]
    assert len({e["id"] for e in produced}) == len(produced), "the spool holds each id once"
    spans = defaultdict(list)
    for e in produced:
        spans[e["data"]["gpu"]].append((epoch(e["data"]["start"]), epoch(e["data"]["end"])))
    for gpu, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, f"{gpu}: intervals overlap, time reported twice"


def assert_server_matches(kashi, node: Node, produced: list[dict], tenants) -> None:
    """No loss and no double count: the server holds each produced event once, rollups exact."""
    assert node.ids("pending") == set() and node.ids("dead") == set()
    assert node.ids("delivered") == {e["id"] for e in produced}
    kashi.join()
    stored = server_events(kashi, node.source)
    assert len(stored) == len(produced)
    assert {i for i, _, _ in stored} == {e["id"] for e in produced}
    by_id = {e["id"]: e for e in produced}
    for event_id, tenant, data in stored:
        assert tenant == by_id[event_id]["subject"]
        assert data["start"] == by_id[event_id]["data"]["start"]
        assert data["end"] == by_id[event_id]["data"]["end"]
    expected = expected_gpu_hourly(produced)
    assert server_gpu_hourly(kashi, tenants) == expected
    per_tenant = defaultdict(int)
    for (tenant, _model, _hour), seconds in expected.items():
        per_tenant[tenant] += seconds
    # every held GPU was observed at the same instants, so team-a pays exactly four times research
    assert per_tenant[tenants[0]] == GPUS_PER_TENANT_A * per_tenant[tenants[1]] > 0


# --- the tests ----------------------------------------------------------------------------------
def test_agent_once_reports_dcgm_kubernetes_usage_and_rollups_match(kashi, tenants, dcgm_exporter, node):
    process, log = node.start("--once")
    assert process.wait(timeout=30) == 0, log.read_text()[-3000:]

    produced = node.produced()
    assert len(produced) == HELD, "one window: one interval per held GPU"
    assert_agent_made_the_right_events(produced, dcgm_exporter[1], tenants)
    assert logged(log, "batch accepted")
    assert_server_matches(kashi, node, produced, tenants)
    statuses = node.produced("gpu.status")
    assert {e["data"]["gpu"] for e in statuses} == set(dcgm_exporter[1]), "a gpu.status for every GPU seen"
    assert {e["data"]["state"] for e in statuses} == {"allocated", "idle"}
    assert len(server_events(kashi, node.source, "gpu.status")) == len(statuses)


def test_api_outage_sigkill_and_restart_lose_nothing_and_count_nothing_twice(kashi, tenants, dcgm_exporter, node):
    port = int(kashi.base_url.rsplit(":", 1)[1])
    api_down = False
    try:
        kashi.stop_api()
        api_down = True

        # 1. the server is gone: windows close and spool, every send fails, then SIGKILL
        first, first_log = node.start()
        wait_until(lambda: len(node.ids("produced")) >= 2 * HELD, "two windows spooled while the API is down")
        wait_until(lambda: logged(first_log, "server unreachable, will retry"), "a failed send")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        killed_ids = node.ids("produced")
        assert node.ids("pending") == killed_ids and node.ids("delivered") == set()
        assert server_events(kashi, node.source) == []

        # 2. a new agent process, the server still down: more windows spool behind the old ones
        second, second_log = node.start()
        wait_until(lambda: len(node.ids("produced")) >= len(killed_ids) + HELD, "a window of the restarted agent")
        wait_until(lambda: logged(second_log, "server unreachable, will retry"), "a failed send after restart")

        # 3. the API comes back on the same port: the spool drains
        kashi.start_api(port=port)
        api_down = False
        wait_until(lambda: killed_ids <= node.ids("delivered"), "the killed agent's events delivered", 30)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=40) == 0, second_log.read_text()[-3000:]
    finally:
        node.kill_all()
        if api_down:
            kashi.start_api(port=port)

    produced = node.produced()
    assert_agent_made_the_right_events(produced, dcgm_exporter[1], tenants)
    assert len(produced) > len(killed_ids) + HELD
    assert_server_matches(kashi, node, produced, tenants)


def test_events_resent_after_a_lost_acknowledgement_count_once(kashi, tenants, dcgm_exporter, node):
    """The server answered 202 but the agent died before its spool committed the acknowledgement."""
    first, first_log = node.start("--once")
    assert first.wait(timeout=30) == 0, first_log.read_text()[-3000:]
    sent = node.ids("produced")
    assert sent == node.ids("delivered") and len(sent) == HELD

    # what the spool holds when the process dies between the 202 and the acknowledgement's commit
    db = sqlite3.connect(node.spool_dir / "spool.sqlite3")
    try:
        with db:
            db.execute("DROP TRIGGER record_produced")  # the same events again: not newly produced
            db.execute(
                "INSERT INTO pending (source, id, body, bytes, spooled_at) "
                "SELECT source, id, body, length(CAST(body AS BLOB)), 0 FROM produced ORDER BY rowid"
            )
            db.execute("DELETE FROM delivered")
            db.executescript(AUDIT_TRIGGER)
    finally:
        db.close()

    second, second_log = node.start("--once")
    assert second.wait(timeout=30) == 0, second_log.read_text()[-3000:]
    produced = node.produced()
    assert sent < {e["id"] for e in produced}, "the restarted agent resent the old window and added its own"
    assert_agent_made_the_right_events(produced, dcgm_exporter[1], tenants)
    assert_server_matches(kashi, node, produced, tenants)
