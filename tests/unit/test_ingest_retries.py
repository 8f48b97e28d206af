"""The ingest actor's retry policy (SPEC §3: an acknowledged batch is never lost): however long
PostgreSQL stays down, dramatiq's Retries middleware never dead-letters a ``record_usage`` message;
it schedules it again, at most 30 s later. No server is contacted: the broker and engine connect lazily."""

from __future__ import annotations

import pytest
from dramatiq import Message
from dramatiq.middleware import Retries
from sqlalchemy.exc import OperationalError

from kashi.db import make_engine
from workers.actors import RECORD_MAX_BACKOFF_MS, declare
from workers.broker import INGEST_QUEUE, RECORD_USAGE, make_broker


@pytest.fixture
def broker():
    broker = make_broker("redis://127.0.0.1:1/0", namespace="retry-policy")
    declare(broker, make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    return broker


class _Delivered:
    """What Retries does with a failed message: fail it (dead letter) or enqueue it again, delayed."""

    def __init__(self, message):
        self.message, self.failed, self.delays = message, False, []

    def fail(self):
        self.failed = True

    def __getattr__(self, name):
        return getattr(self.message, name)


@pytest.mark.parametrize("retries", [0, 5, 19, 20, 100, 10_000])
def test_a_batch_failing_because_postgresql_is_down_is_retried_however_long_it_lasts(broker, retries, monkeypatch):
    retries_middleware = next(m for m in broker.middleware if isinstance(m, Retries))
    message = Message(
        queue_name=INGEST_QUEUE,
        actor_name=RECORD_USAGE,
        args=("b", []),
        kwargs={},
        options={"retries": retries},
    )
    delivered = _Delivered(message)
    sent = []
    monkeypatch.setattr(broker, "enqueue", lambda m, *, delay=None: sent.append((m, delay)))
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    retries_middleware.after_process_message(broker, delivered, exception=down)
    assert not delivered.failed
    ((again, delay),) = sent
    assert again.options["retries"] == retries + 1 and again.args == ("b", [])
    assert 0 < delay <= RECORD_MAX_BACKOFF_MS
