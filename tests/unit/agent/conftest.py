"""Shared helpers for the agent's unit tests: recorded fixtures, a fake clock, a local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "agent"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 10, 1, 0, 0, 0, tzinfo=UTC))


class Recorder:
    """What a fake Kashi server received, and the statuses it answers with (202 when none left)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: list[int] = []
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        self.pages: dict[str, Callable[[], str]] = {}

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 202


class _Handler(BaseHTTPRequestHandler):
    recorder: Recorder

    def log_message(self, *args) -> None:  # keep pytest output quiet
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        page = self.recorder.pages.get(self.path)
        if page is None:
            self._reply(404, b"not found", "text/plain")
        else:
            self._reply(200, page().encode(), "text/plain; version=0.0.4")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.recorder.answer()
        with self.recorder.lock:
            self.recorder.requests.append(
                {
                    "status": status,
                    "events": body,
                    "auth": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                }
            )
            if status == 202:
                self.recorder.accepted.extend(body)
        self._reply(status, json.dumps({"accepted": len(body)} if status == 202 else {"error": {}}).encode())


@pytest.fixture
def http_server():
    """A local HTTP server in a thread: POST records events, GET serves `recorder.pages`."""
    recorder = Recorder()
    handler = type("Handler", (_Handler,), {"recorder": recorder})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join()
