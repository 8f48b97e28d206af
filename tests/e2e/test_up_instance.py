"""One ``kashi up`` per data dir, and nothing left behind: real processes, checked by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from kashi.instance import pid_alive, server_pids
from kashi.local import free_port

pytestmark = pytest.mark.slow
KASHI = [sys.executable, "-m", "kashi.cli"]


def env_for(data_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    return {**env, "KASHI_DATA_DIR": str(data_dir)}


def one_line(text: str) -> str:
    return " ".join(text.split())  # rich wraps stderr at 80 columns


def start_up(data_dir, port: int, *options: str) -> subprocess.Popen:
    """``kashi up`` with its stderr (and its children's) in ``<data_dir>.log`` (a pipe could fill and block)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(f"{data_dir}.log", "a") as log:
        return subprocess.Popen(
            [*KASHI, "up", "--port", str(port), "--no-scheduler", *options],
            env=env_for(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def log_of(data_dir) -> str:
    with open(f"{data_dir}.log") as log:
        return one_line(log.read())


def wait_own_api(data_dir, up: subprocess.Popen, timeout_s: float = 120) -> dict:
    """The state file of ``up`` once the API answering its URL is its own (the same instance id)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert up.poll() is None, f"kashi up exited early: {log_of(data_dir)[-2000:]}"
        try:
            state = json.loads((data_dir / "kashi-up.json").read_text())
            answer = httpx.get(f"{state['url']}/healthz", timeout=2)
            if answer.status_code == 200 and answer.json()["instance"] == state["instance_id"]:
                return state
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise AssertionError("kashi up never became healthy")


def wait_dead(pids: list[int], timeout_s: float = 60) -> list[str]:
    """The processes of ``pids`` still alive after ``timeout_s`` (as ``ps`` shows them)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    alive = [str(p) for p in pids if pid_alive(p)]
    if not alive:
        return []
    return subprocess.run(
        ["ps", "-o", "pid,ppid,stat,cmd", "-p", ",".join(alive)], capture_output=True, text=True
    ).stdout.splitlines()[1:]


def everything_of(data_dir, state: dict) -> list[int]:
    pg, valkey = server_pids(data_dir)
    assert pg and valkey
    return [state["pid"], *state["children"].values(), pg, valkey]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    data_dir, port = tmp_path_factory.mktemp("up-a"), free_port()
    up = start_up(data_dir, port)
    state = wait_own_api(data_dir, up)
    yield data_dir, port, state
    up.send_signal(signal.SIGTERM)
    up.wait(timeout=120)


def test_second_up_on_the_same_data_dir_is_refused_naming_the_running_one(running):
    data_dir, port, state = running
    done = subprocess.run(
        [*KASHI, "up", "--port", str(free_port())], env=env_for(data_dir), capture_output=True, text=True, timeout=60
    )
    message = one_line(done.stderr)
    assert done.returncode == 1
    assert f"pid {state['pid']}" in message and f"http://127.0.0.1:{port}" in message, message
    assert "Kashi is up" not in message
    assert all(pid_alive(pid) for pid in state["children"].values())


def test_up_prints_the_console_url_and_serves_its_sign_in_page(running):
    data_dir, port, state = running
    deadline = time.monotonic() + 10
    while f"Console: http://127.0.0.1:{port}/console" not in log_of(data_dir):
        assert time.monotonic() < deadline, log_of(data_dir)[-2000:]
        time.sleep(0.1)
    page = httpx.get(f"http://127.0.0.1:{port}/console", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text and "API key" in page.text


def test_up_on_a_port_another_kashi_serves_is_refused_before_anything_starts(running, tmp_path):
    _, port, _ = running
    done = subprocess.run(
        [*KASHI, "up", "--port", str(port)], env=env_for(tmp_path / "b"), capture_output=True, text=True, timeout=60
    )
    message = one_line(done.stderr)
    assert done.returncode == 1
    assert f"port {port}" in message and "already in use" in message and "nothing was started" in message
    assert "Kashi is up" not in message
    assert not (tmp_path / "b" / "pg").exists() and not (tmp_path / "b" / "valkey").exists()


def test_status_names_the_running_instance_its_children_servers_and_health(running):
    data_dir, port, state = running
    done = subprocess.run(
        [*KASHI, "status", "--json"], env=env_for(data_dir), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["running"] and report["pid"] == state["pid"] and report["url"] == f"http://127.0.0.1:{port}"
    assert report["health"] == "ok"
    assert {role for role in report["children"]} == {"api", "worker-1"}
    assert all(child["alive"] for child in report["children"].values())
    assert report["servers"]["postgresql"]["pid"] and report["servers"]["valkey"]["pid"]


def test_down_stops_the_instance_and_everything_it_started(tmp_path):
    data_dir = tmp_path / "data"
    up = start_up(data_dir, free_port())
    state = wait_own_api(data_dir, up)
    pids = everything_of(data_dir, state)
    done = subprocess.run([*KASHI, "down"], env=env_for(data_dir), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert up.wait(timeout=30) == 0
    assert wait_dead(pids, timeout_s=10) == []
    status = subprocess.run([*KASHI, "status"], env=env_for(data_dir), capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and "no Kashi instance runs" in one_line(status.stdout)


def test_kill_9_of_up_leaves_no_orphans_and_the_next_up_starts(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    up = start_up(data_dir, port)
    state = wait_own_api(data_dir, up)
    pids = everything_of(data_dir, state)
    up.kill()
    up.wait()
    assert wait_dead(pids) == [], "orphans survived kill -9 of kashi up"
    again = start_up(data_dir, port)
    try:
        second = wait_own_api(data_dir, again)
        assert second["instance_id"] != state["instance_id"]
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=120) == 0


def test_servers_left_by_a_crash_that_took_the_lifeline_too_are_stopped_at_the_next_up(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    up = start_up(data_dir, port)
    state = wait_own_api(data_dir, up)
    old_servers = list(server_pids(data_dir))
    lifeline = subprocess.run(["pgrep", "-f", f"kashi.lifeline .* {data_dir}$"], capture_output=True, text=True)
    lifeline_pid = int(lifeline.stdout.split()[0])
    os.kill(lifeline_pid, signal.SIGKILL)
    up.kill()
    up.wait()
    # The children asked the kernel for SIGTERM on their parent's death; only the daemonised servers stay.
    assert wait_dead(list(state["children"].values())) == []
    assert all(pid_alive(pid) for pid in old_servers)
    again = start_up(data_dir, port)
    try:
        wait_own_api(data_dir, again)
        assert wait_dead(old_servers, timeout_s=5) == []
        assert set(server_pids(data_dir)).isdisjoint(old_servers)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=120) == 0
    assert "stopped embedded servers left running" in log_of(data_dir)


def test_status_and_down_have_help_and_say_when_nothing_runs(tmp_path):
    for command in (["status", "--help"], ["down", "--help"]):
        assert subprocess.run([*KASHI, *command], capture_output=True, text=True).returncode == 0, command
    status = subprocess.run([*KASHI, "status"], env=env_for(tmp_path), capture_output=True, text=True)
    down = subprocess.run([*KASHI, "down"], env=env_for(tmp_path), capture_output=True, text=True)
    assert status.returncode == 3 and "no Kashi instance runs" in one_line(status.stdout)
    assert down.returncode == 0 and "no Kashi instance ran" in one_line(down.stderr)
