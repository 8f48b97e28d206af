"""Delivery: 202 acknowledges, 422 dead-letters, 413 halves, 401 retries slowly, 5xx backs off."""

import json
import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metering.agent.logs import JsonFormatter
from metering.agent.metrics import AgentMetrics
from metering.agent.sender import Sender, backoff_delay
from metering.agent.spool import Spool


def _events(n: int) -> list[dict]:
    return [
        {
            "specversion": "1.0",
            "id": f"e{i}",
            "source": "node/n1",
            "type": "gpu.usage",
            "subject": "t",
            "time": "2026-10-01T00:01:00Z",
            "data": {},
        }
        for i in range(n)
    ]


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool")
    yield s
    s.close()


def _sender(spool, handler, **kw):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Sender(spool, "http://kashi.test/", "secret", client=client, rng=random.Random(1), **kw)


def test_202_removes_the_batch_and_sends_the_spec_headers(spool):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(202, json={"accepted": 3})

    spool.add(_events(3))
    metrics = AgentMetrics()
    outcome = _sender(spool, handler, metrics=metrics).send_batch()
    assert (outcome.status, outcome.sent) == ("sent", 3)
    assert spool.depth() == 0
    request = seen[0]
    assert str(request.url) == "http://kashi.test/v1/events"
    assert request.headers["Authorization"] == "Bearer secret"
    assert request.headers["Content-Type"] == "application/cloudevents-batch+json"
    assert [e["id"] for e in json.loads(request.content)] == ["e0", "e1", "e2"]
    assert metrics.sent._value.get() == 3


def test_422_sets_aside_the_named_events_and_keeps_the_rest(spool, caplog):
    def handler(request):
        return httpx.Response(
            422,
            json={
                "error": {
                    "code": "invalid_events",
                    "message": "2 bad events",
                    "details": [
                        {"index": 1, "field": "data.end", "reason": "must be after start"},
                        {"index": 3, "field": "subject", "reason": "unknown tenant"},
                    ],
                }
            },
        )

    spool.add(_events(4))
    with caplog.at_level("ERROR", logger="kashi.agent"):
        outcome = _sender(spool, handler).send_batch()
    assert (outcome.status, outcome.dead) == ("rejected", 2)
    assert [e.id for e in spool.oldest()] == ["e0", "e2"]
    dead = spool.dead_letters()
    assert [(d["id"], d["reason"]) for d in dead] == [
        ("e1", "422 data.end: must be after start"),
        ("e3", "422 subject: unknown tenant"),
    ]
    record = next(r for r in caplog.records if r.getMessage() == "server rejected the batch")
    assert record.code == "invalid_events" and record.details[1]["reason"] == "unknown tenant"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and line["details"][0]["field"] == "data.end" and line["events"] == 4


def test_422_without_indices_sets_aside_the_whole_batch(spool):
    spool.add(_events(2))
    outcome = _sender(spool, lambda r: httpx.Response(422, text="bad")).send_batch()
    assert (outcome.status, outcome.dead) == ("rejected", 2)
    assert spool.depth() == 0 and len(spool.dead_letters()) == 2


def test_413_halves_the_batch(spool):
    sizes = []

    def handler(request):
        n = len(json.loads(request.content))
        sizes.append(n)
        return httpx.Response(413) if n > 2 else httpx.Response(202)

    spool.add(_events(5))
    sender = _sender(spool, handler)
    while sender.send_batch().status != "empty":
        pass
    assert sizes == [5, 2, 2, 1]


def test_401_is_logged_and_retried_slowly(spool, caplog):
    spool.add(_events(1))
    with caplog.at_level("ERROR", logger="kashi.agent"):
        outcome = _sender(spool, lambda r: httpx.Response(401), auth_retry_s=300).send_batch()
    assert outcome.status == "retry" and outcome.retry_in >= 300
    assert spool.depth() == 1
    assert "check the key" in caplog.text


def test_503_and_network_errors_back_off_exponentially_and_honour_retry_after(spool):
    spool.add(_events(1))
    answers = iter([httpx.Response(503), httpx.Response(503), httpx.Response(429, headers={"Retry-After": "42"})])

    def handler(request):
        return next(answers)

    sender = _sender(spool, handler, base_s=1, cap_s=100)
    delays = [sender.send_batch().retry_in for _ in range(3)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and delays[2] == 42

    def refuse(request):
        raise httpx.ConnectError("refused")

    broken = _sender(spool, refuse)
    assert broken.send_batch().status == "retry"
    assert spool.depth() == 1


def test_other_2xx_is_not_an_acknowledgement(spool):
    spool.add(_events(1))
    assert _sender(spool, lambda r: httpx.Response(200)).send_batch().status == "retry"
    assert spool.depth() == 1


@given(attempt=st.integers(0, 200), seed=st.integers(0, 10_000), base=st.floats(0.01, 10), cap=st.floats(1, 900))
def test_backoff_with_jitter_is_bounded(attempt, seed, base, cap):
    delay = backoff_delay(attempt, random.Random(seed), base, cap)
    ceiling = min(cap, base * 2**attempt)
    assert ceiling / 2 <= delay <= ceiling <= cap


def test_jitter_spreads_agents_out():
    delays = {round(backoff_delay(5, random.Random(seed)), 6) for seed in range(20)}
    assert len(delays) == 20
