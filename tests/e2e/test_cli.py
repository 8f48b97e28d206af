"""Whole processes, as an operator runs them: ``kashi demo`` and ``kashi up`` (SPEC §10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from kashi.local import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
KASHI = [sys.executable, "-m", "kashi.cli"]


def env_for(data_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    return {**env, "KASHI_DATA_DIR": str(data_dir)}


def test_readme_first_command_kashi_demo_succeeds(tmp_path):
    done = subprocess.run([*KASHI, "demo"], env=env_for(tmp_path / "data"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Card-hours rolled up per tenant and GPU model" in done.stdout
    assert "demo finished" in done.stdout


def wait_healthy(base_url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    def healthy() -> bool:
        assert process.poll() is None, "kashi up exited early"
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, "kashi up to become healthy", timeout_s, every=0.2)


def test_kashi_up_serves_takes_keys_stops_cleanly_and_keeps_data(tmp_path):
    env, port = env_for(tmp_path / "data"), free_port()
    base_url = f"http://127.0.0.1:{port}"
    up = subprocess.Popen([*KASHI, "up", "--port", str(port), "--no-scheduler"], env=env)
    try:
        wait_healthy(base_url, up)
        key = subprocess.run(
            [*KASHI, "keys", "create", "--role", "operator"], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert key.strip().startswith("ks_") and key.count("\n") == 1
        headers = {"Authorization": f"Bearer {key.strip()}"}
        assert (
            httpx.post(f"{base_url}/v1/tenants", json={"id": "t-up", "name": "上海算力"}, headers=headers).status_code
            == 201
        )
        bad = subprocess.run([*KASHI, "keys", "create", "--role", "agent"], env=env, capture_output=True, text=True)
        assert bad.returncode != 0 and "source" in bad.stderr
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=120) == 0
    up = subprocess.Popen([*KASHI, "up", "--port", str(port), "--no-scheduler"], env=env)
    try:
        wait_healthy(base_url, up)
        answer = httpx.get(f"{base_url}/v1/tenants/t-up", headers=headers)
        assert answer.status_code == 200 and answer.json()["name"] == "上海算力"
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=120) == 0


def test_every_command_has_help():
    for command in ([], ["up"], ["demo"], ["api"], ["worker"], ["migrate"], ["keys", "create"]):
        done = subprocess.run([*KASHI, *command, "--help"], capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr)


def test_kashi_up_exits_non_zero_when_its_port_is_taken(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*KASHI, "up", "--port", str(port), "--no-scheduler"],
            env=env_for(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert f"port {port} on 127.0.0.1 is already in use" in message and "nothing was started" in message
    assert "Kashi is up" not in message and not (tmp_path / "data" / "pg").exists()
