"""The agent's cycle with an injected clock: windows, splits, tokens across resets and restarts."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from metering.agent.allocation import LeasesFile
from metering.agent.collectors import tokens
from metering.agent.collectors.base import GpuSample
from metering.agent.config import TokenEndpointConfig
from metering.agent.loop import Agent, TokenEndpoint
from metering.agent.spool import Spool

from .conftest import FakeClock, fixture_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
GPUS = [GpuSample(f"GPU-{i}", i, "NVIDIA H100 80GB HBM3", 0.5) for i in range(3)]


class FakeCollector:
    name = "fake"

    def __init__(self, samples):
        self.samples = samples
        self.fail = False

    def collect(self):
        if self.fail:
            raise OSError("exporter down")
        return self.samples


class FakeCounters:
    def __init__(self, text):
        self.text = text

    def collect(self):
        return tokens.parse(self.text)


def _vllm(prompt0, prompt1, gen0=0, gen1=0, hits0=0, hits1=0):
    lines = []
    for e, p, g, h in (("0", prompt0, gen0, hits0), ("1", prompt1, gen1, hits1)):
        lab = f'engine="{e}",model_name="qwen"'
        lines += [
            f"vllm:prompt_tokens_total{{{lab}}} {p}",
            f"vllm:generation_tokens_total{{{lab}}} {g}",
            f"vllm:prefix_cache_hits_total{{{lab}}} {h}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def leases(tmp_path):
    path = tmp_path / "leases.json"
    path.write_text(json.dumps({"GPU-0": "tenant-a", "GPU-1": {"tenant": "tenant-b", "contract_id": "c-1"}}))
    return path


def _agent(tmp_path, leases, clock, spool=True, collector=None, token_pages=(), emit=None):
    endpoints = [
        TokenEndpoint(TokenEndpointConfig(url="http://127.0.0.1:8000/metrics", tenant="tenant-t", name="vllm"), page)
        for page in token_pages
    ]
    return Agent(
        source="node/n7",
        node="n7",
        window_s=60,
        tz=SHANGHAI,
        collector=collector or FakeCollector(GPUS),
        allocation=LeasesFile(leases),
        clock=clock,
        tokens=endpoints,
        spool=Spool(tmp_path / "spool") if spool else None,
        emit=emit,
    )


def _run(agent, clock, seconds, step=10):
    out = []
    for _ in range(seconds // step):
        out += agent.tick()
        clock.advance(step)
    return out


def _usage(events):
    return [e for e in events if e["type"] == "gpu.usage"]


def _start():
    return FakeClock(datetime(2026, 9, 30, 23, 59, 0, tzinfo=SHANGHAI))


def test_each_held_gpu_gets_one_event_per_window_and_idle_gpus_none(tmp_path, leases):
    clock = _start()
    agent = _agent(tmp_path, leases, clock)
    events = _usage(_run(agent, clock, 130))  # ticks 23:59:00 … 00:01:00
    ids = [e["id"] for e in events]
    t0, t1 = 1790783940, 1790784000
    assert ids == [f"n7-GPU-0-{t0}", f"n7-GPU-1-{t0}", f"n7-GPU-0-{t1}", f"n7-GPU-1-{t1}"]
    first = events[1]
    assert first["subject"] == "tenant-b" and first["data"]["contract_id"] == "c-1"
    assert first["data"]["start"] == "2026-09-30T23:59:00+08:00"
    assert first["data"]["end"] == "2026-10-01T00:00:00+08:00"  # across the month boundary
    assert first["data"]["gpu_model"] == "H100-SXM" and first["data"]["utilization"] == "0.50"
    assert agent.spool.depth() == 4 + 6  # and a gpu.status per GPU per window
    assert agent.metrics.gpus.labels(state="idle")._value.get() == 1


def test_lease_change_mid_window_splits_at_the_change(tmp_path, leases):
    clock = _start()
    agent = _agent(tmp_path, leases, clock)
    _run(agent, clock, 60)  # first window, GPU-0 with tenant-a
    events = _run(agent, clock, 30)  # 00:00:00 … 00:00:20, closes the first window
    leases.write_text(json.dumps({"GPU-0": "tenant-c"}))
    events += _run(agent, clock, 50)  # 00:00:30 … 00:01:10, closes the second
    second = [e for e in _usage(events) if e["data"]["start"].startswith("2026-10-01")]
    assert [(e["subject"], e["data"]["start"][11:19], e["data"]["end"][11:19]) for e in second] == [
        ("tenant-a", "00:00:00", "00:00:30"),
        ("tenant-c", "00:00:30", "00:01:00"),
        ("tenant-b", "00:00:00", "00:00:30"),  # GPU-1 released at 00:00:30
    ]
    assert len({e["id"] for e in events}) == len(events)


def test_a_collector_outage_keeps_billing_the_allocation(tmp_path, leases):
    clock = _start()
    collector = FakeCollector(GPUS)
    agent = _agent(tmp_path, leases, clock, collector=collector)
    agent.tick()
    collector.fail = True
    events = _run(agent, clock, 70)
    assert [e["data"]["gpu"] for e in _usage(events)] == ["GPU-0", "GPU-1"]
    statuses = [e for e in events if e["type"] == "gpu.status"]
    assert {e["data"]["state"] for e in statuses} == {"down"}
    assert statuses[0]["data"]["reason"].startswith("collector fake failed")
    assert agent.metrics.collect_errors.labels(collector="fake")._value.get() > 0


def test_dry_run_emits_and_spools_nothing(tmp_path, leases):
    clock = _start()
    printed = []
    agent = _agent(tmp_path, leases, clock, spool=False, emit=printed.extend)
    _run(agent, clock, 70)
    assert len(_usage(printed)) == 2 and not (tmp_path / "spool").exists()


def test_shutdown_inside_a_window_bills_what_was_seen_and_restart_does_not_overlap(tmp_path, leases):
    clock = _start()
    agent = _agent(tmp_path, leases, clock)
    _run(agent, clock, 90)  # closes 23:59; now 00:00:30
    partial = _usage(agent.close_window(clock()))
    assert [(e["data"]["start"][11:], e["data"]["end"][11:]) for e in partial] == [
        ("00:00:00+08:00", "00:00:30+08:00")
    ] * 2
    agent.spool.close()
    clock.advance(5)
    restarted = _agent(tmp_path, leases, clock)
    events = _run(restarted, clock, 40)
    assert [(e["data"]["start"][11:], e["data"]["end"][11:]) for e in _usage(events)] == [
        ("00:00:35+08:00", "00:01:00+08:00")
    ] * 2
    usage = [e for e in restarted.spool.oldest() if "-status-" not in e.id]
    assert len(usage) == 2 + 2 + 2
    assert restarted.spool.depth() == len(usage) + 3 * 3  # three windows' gpu.status, distinct ids


def test_tokens_per_window_survive_a_server_reset_and_an_agent_restart(tmp_path, leases):
    clock = _start()
    page = FakeCounters(_vllm(1000, 2000, 10, 20))
    agent = _agent(tmp_path, leases, clock, token_pages=[page])
    agent.tick()  # baseline: the counters' past is not billed
    clock.advance(30)
    page.text = _vllm(1500, 2100, 60, 30, hits0=100)
    agent.tick()
    clock.advance(30)
    events = [e for e in agent.tick() if e["type"] == "llm.tokens"]
    assert [e["data"] for e in events] == [
        {"model": "qwen", "input_tokens": 500, "output_tokens": 60, "cached_tokens": 100}
    ]
    assert events[0]["subject"] == "tenant-t" and events[0]["id"] == "n7-vllm-qwen-1790783940"
    # vLLM restarts: engine 0 back to small numbers, engine 1 keeps counting
    page.text = _vllm(40, 2200, 4, 35, hits0=0)
    clock.advance(60)
    events = [e for e in agent.tick() if e["type"] == "llm.tokens"]
    assert events[0]["data"] == {"model": "qwen", "input_tokens": 140, "output_tokens": 9, "cached_tokens": 0}
    # the agent restarts (SIGKILL: no goodbye); saved counters mean nothing is counted twice
    agent.spool._db.close()
    restarted = _agent(tmp_path, leases, clock, token_pages=[page])
    restarted.tick()
    page.text = _vllm(50, 2200, 4, 35)
    clock.advance(60)
    events = [e for e in restarted.tick() if e["type"] == "llm.tokens"]
    assert [e["data"]["input_tokens"] for e in events] == [10]
    all_ids = [e.id for e in restarted.spool.oldest() if "-vllm-" in e.id]
    assert len(all_ids) == len(set(all_ids)) == 3


def test_token_events_with_no_traffic_are_not_sent(tmp_path, leases):
    clock = _start()
    page = FakeCounters(fixture_text("sglang-0.4-metrics.prom"))
    agent = _agent(tmp_path, leases, clock, token_pages=[page])
    events = _run(agent, clock, 70)
    assert [e["type"] for e in events if e["type"] != "gpu.status"] == ["gpu.usage", "gpu.usage"]


def test_no_gpu_found_while_gpus_are_leased_is_an_error_every_window_never_a_silent_zero(tmp_path, leases, caplog):
    clock = _start()
    agent = _agent(tmp_path, leases, clock, collector=FakeCollector([]))
    _run(agent, clock, 130)  # two windows close
    assert agent.metrics.no_gpus.labels(collector="fake")._value.get() == 2
    assert sum("found no GPU while GPUs are held" in r.getMessage() for r in caplog.records) == 2


def test_gpu_status_every_window_idle_allocated_and_a_gpu_gone_from_the_bus(tmp_path, leases):
    clock = _start()
    collector = FakeCollector(GPUS)
    agent = _agent(tmp_path, leases, clock, collector=collector)
    first = [e for e in _run(agent, clock, 70) if e["type"] == "gpu.status"]
    assert [(e["data"]["gpu"], e["data"]["state"], e.get("subject")) for e in first] == [
        ("GPU-0", "allocated", "tenant-a"),
        ("GPU-1", "allocated", "tenant-b"),
        ("GPU-2", "idle", None),
    ]
    collector.samples = GPUS[:2]
    second = [e for e in _run(agent, clock, 60) if e["type"] == "gpu.status"]
    assert second[2]["data"]["state"] == "down" and "gone from the bus" in second[2]["data"]["reason"]


def test_a_mig_card_split_between_holders_is_counted(tmp_path, leases):
    clock = _start()
    split = [GpuSample("GPU-9", 0, "NVIDIA A100-SXM4-80GB", 0.4, mig_split=True)]
    agent = _agent(tmp_path, leases, clock, collector=FakeCollector(split))
    _run(agent, clock, 30)
    assert agent.metrics.mig_split._value.get() == 3


class CreatedCounters(FakeCounters):
    def __init__(self, text, started):
        super().__init__(text)
        self.started = started

    def collect_with_created(self):
        if self.text is None:
            raise OSError("connection refused")  # the server is still loading its model
        values = self.collect()
        return values, dict.fromkeys(values, self.started)


def test_tokens_of_a_server_that_started_after_the_agent_are_billed_from_zero(tmp_path, leases, caplog):
    clock = _start()
    page = CreatedCounters(None, started=0.0)
    agent = _agent(tmp_path, leases, clock, token_pages=[page])
    agent.tick()  # the endpoint does not answer yet: no baseline is saved
    clock.advance(30)
    page.text, page.started = _vllm(700, 0, 50, 0), clock().timestamp() - 5  # it came up after the agent
    events = [e for e in _run(agent, clock, 40) if e["type"] == "llm.tokens"]
    assert [(e["data"]["input_tokens"], e["data"]["output_tokens"]) for e in events] == [(700, 50)]
    page.started = 0.0  # the same page from a server older than the agent would be a baseline
    assert agent._read(agent.tokens[0])[1] == dict.fromkeys(tokens.parse(page.text), 0.0)
    assert sum("no cached-token counter" in r.getMessage() for r in caplog.records) == 0  # hits counter present


def test_a_server_without_cached_counter_sends_zero_cached_and_says_so_once(tmp_path, leases, caplog):
    clock = _start()
    page = FakeCounters('vllm:prompt_tokens_total{model_name="q"} 100\n')
    agent = _agent(tmp_path, leases, clock, token_pages=[page])
    agent.tick()
    for n in (200, 300):
        page.text = f'vllm:prompt_tokens_total{{model_name="q"}} {n}\n'
        clock.advance(60)
        agent.tick()
    assert sum("no cached-token counter" in r.getMessage() for r in caplog.records) == 1
