"""SIGKILL between spooling and sending loses nothing and duplicates nothing (SPEC §3).

A real agent process runs against a local fake Kashi server (a thread recording what it
receives) and a local fake DCGM exporter. The server answers 202, then 503s while the agent
is killed with events still spooled, then 202 again for the restarted agent.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]

DCGM_PAGE = (
    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaa",modelName="NVIDIA H20",Hostname="n1"} 80\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbb",modelName="NVIDIA H20",Hostname="n1"} 10\n'
)


def _pending(spool_dir: Path) -> list[str]:
    db_path = spool_dir / "spool.sqlite3"
    if not db_path.exists():
        return []
    db = sqlite3.connect(db_path, timeout=5)
    try:
        return [row[0] for row in db.execute("SELECT id FROM pending")]
    except sqlite3.OperationalError:  # schema not created yet
        return []
    finally:
        db.close()


def _agent(config: Path, log: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KASHI_AGENT_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "metering.agent", "run", "--config", str(config), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def test_sigkill_between_spool_and_send_then_restart_sends_exactly_once(tmp_path, http_server):
    http_server.pages["/metrics"] = lambda: DCGM_PAGE
    leases = tmp_path / "leases.json"
    leases.write_text(json.dumps({"GPU-aaa": "tenant-a", "GPU-bbb": "tenant-b"}))
    spool_dir = tmp_path / "spool"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
source = "node/crash-1"
server = "{http_server.url}"
key = "agent-key"
window_seconds = 1
sample_seconds = 0.25
timezone = "Asia/Shanghai"
[gpu]
collector = "dcgm"
url = "{http_server.url}/metrics"
[allocation]
source = "leases"
leases_file = "{leases}"
[spool]
dir = "{spool_dir}"
[metrics]
port = 0
"""
    )
    log = tmp_path / "agent.log"

    agent = _agent(config, log)
    try:
        wait_until(lambda: len(http_server.accepted) >= 4, "first accepted events")  # 202 phase
        http_server.statuses[:] = [503] * 10_000  # the server fails from now on
        wait_until(lambda: len(_pending(spool_dir)) >= 4, "events spooled but unsent")
        wait_until(lambda: any(r["status"] == 503 for r in http_server.requests), "a refused send")
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    finally:
        if agent.poll() is None:
            agent.kill()
    unsent = set(_pending(spool_dir))
    assert unsent and not unsent & {e["id"] for e in http_server.accepted}

    http_server.statuses.clear()  # the server is back: 202
    again = _agent(config, log, "--once")
    assert again.wait(timeout=30) == 0, log.read_text()

    counts = Counter((e["source"], e["id"]) for e in http_server.accepted)
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    assert unsent <= {i for _, i in counts}
    assert _pending(spool_dir) == []
    assert any(r["status"] == 503 for r in http_server.requests)
    assert all(r["auth"] == "Bearer agent-key" for r in http_server.requests)
    usage = [e for e in http_server.accepted if e["type"] == "gpu.usage"]
    assert {e["subject"] for e in usage} == {"tenant-a", "tenant-b"}
    assert {e["data"]["gpu_model"] for e in http_server.accepted} == {"H20"}
    assert {e["type"] for e in http_server.accepted} == {"gpu.usage", "gpu.status"}
