"""`kashi up --api-processes N` (issue 17): N API processes share one port through SO_REUSEPORT."""

from __future__ import annotations

import signal

import httpx
import pytest

from kashi.instance import pid_alive
from kashi.local import free_port
from tests.e2e.test_up_instance import start_up, wait_own_api

pytestmark = pytest.mark.slow


def test_two_api_processes_serve_one_port(tmp_path):
    data_dir, port = tmp_path / "up", free_port()
    up = start_up(data_dir, port, "--api-processes", "2")
    try:
        state = wait_own_api(data_dir, up)
        assert {"api-1", "api-2"} <= set(state["children"]) and "api" not in state["children"]
        assert all(pid_alive(state["children"][role]) for role in ("api-1", "api-2"))
        answers = []
        for _ in range(20):  # a new connection each time: the kernel picks a process per connection
            with httpx.Client(timeout=10) as client:
                answers.append(client.get(f"http://127.0.0.1:{port}/healthz").json()["instance"])
        assert set(answers) == {state["instance_id"]}
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=120)
