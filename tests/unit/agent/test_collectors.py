"""Collectors against recorded exporter pages and command outputs (tests/fixtures/agent/)."""

import logging
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.agent.collectors import ascend, dcgm, nvidia_smi, nvml, tokens
from metering.agent.collectors.base import parse_prometheus

from .conftest import fixture_text


def test_dcgm_page_with_old_Hostname_label_and_kubernetes_labels(caplog):
    with caplog.at_level(logging.WARNING, logger="kashi.agent"):
        gpus = dcgm.parse(fixture_text("dcgm-exporter-3.3-k8s-Hostname.prom"))
    assert [g.index for g in gpus] == list(range(8))
    first = gpus[0]
    assert first.uuid == "GPU-5f3c2a1e-8b7d-4c6a-9e2f-1a0b3c4d5e6f"
    assert first.model == "NVIDIA H100 80GB HBM3"
    assert first.hostname == "gpu-node-07"
    assert first.utilization == pytest.approx(0.97)
    assert first.labels == {"pod": "llm-train-0", "namespace": "team-a", "container": "trainer"}
    assert gpus[5].labels == {}  # a GPU no pod holds
    assert "skipped an unparsable metrics line" in caplog.text  # the 502 page and the cut line


def test_dcgm_page_with_new_hostname_label_prefers_engine_active():
    gpus = dcgm.parse(fixture_text("dcgm-exporter-4.1-k8s-hostname.prom"))
    assert len(gpus) == 8  # the garbage GPU 9 line is skipped
    assert {g.hostname for g in gpus} == {"gpu-node-08"}
    assert gpus[0].utilization == pytest.approx(0.953121)
    assert gpus[4].labels["namespace"] == "research"


def test_nvidia_smi_csv_skips_error_and_partial_lines(caplog):
    with caplog.at_level(logging.WARNING, logger="kashi.agent"):
        gpus = nvidia_smi.parse(fixture_text("nvidia-smi-query-gpu.csv"))
    assert len(gpus) == 6
    assert gpus[0].uuid == "GPU-b7a3f1c2-4d5e-6f70-8192-a3b4c5d6e7f8"
    assert gpus[0].model == "NVIDIA GeForce RTX 4090"
    assert gpus[0].utilization == pytest.approx(0.98)
    assert gpus[3].utilization is None  # [N/A]
    assert [g.index for g in gpus] == list(range(6))
    assert caplog.text.count("skipped an unparsable nvidia-smi line") == 2


def test_nvidia_smi_collector_runs_the_documented_command():
    seen = []
    output = "index, uuid, name, utilization.gpu [%]\n0, GPU-1, NVIDIA H20, 50 %\n"  # --format=csv: a header
    collector = nvidia_smi.NvidiaSmiCollector(run=lambda cmd: seen.append(cmd) or output)
    (gpu,) = collector.collect()
    assert (gpu.uuid, gpu.model, gpu.utilization) == ("GPU-1", "NVIDIA H20", 0.5)
    assert seen[0] == nvidia_smi.COMMAND


def test_ascend_npu_exporter_page():
    npus = ascend.parse(fixture_text("npu-exporter-910b.prom"), node="npu-node-1")
    assert [n.index for n in npus] == [0, 1, 2, 3]  # chip 4's line is cut off
    assert npus[1].uuid == "3A6C5E4A-20D0C809-1C100D4C-28C4D1E2-15E8A0C6"
    assert npus[1].model == "Ascend910B3"
    assert npus[1].utilization == pytest.approx(0.87)
    assert npus[1].labels == {"namespace": "ai-team", "pod": "pangu-train-0", "container": "pangu"}
    assert npus[3].uuid == "npu-node-1-npu-0000:82:00.0"  # no die id: the node and the chip's PCIe bus


def test_nvml_collector_with_a_fake_pynvml():
    class NVMLError(Exception):
        pass

    def util(handle):
        if handle == 1:
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(gpu=64, memory=10)

    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}".encode(),  # older bindings return bytes
        nvmlDeviceGetName=lambda h: "NVIDIA A800-SXM4-80GB",
        nvmlDeviceGetUtilizationRates=util,
    )
    gpus = nvml.NvmlCollector(fake).collect()
    assert [(g.uuid, g.model, g.utilization) for g in gpus] == [
        ("GPU-0", "NVIDIA A800-SXM4-80GB", 0.64),
        ("GPU-1", "NVIDIA A800-SXM4-80GB", None),
    ]


def test_vllm_page_with_two_engines():
    values = tokens.parse(fixture_text("vllm-0.10-two-engines.prom"))
    by_kind = {}
    for key, value in values.items():
        kind, model = tokens.key_kind_model(key)
        assert model == "Qwen/Qwen2.5-72B-Instruct"
        by_kind[kind] = by_kind.get(kind, 0) + value
    assert by_kind == {"prompt": 1842231 + 1530119, "output": 402117 + 355902, "cached": 912448 + 701232}
    assert len(values) == 6  # one series per engine and kind; _created samples ignored


def test_sglang_page_sums_cache_sources():
    values = tokens.parse(fixture_text("sglang-0.4-metrics.prom"))
    cached = sum(v for k, v in values.items() if tokens.key_kind_model(k)[0] == "cached")
    assert cached == 2_961_000 + 120_000
    assert {tokens.key_kind_model(k)[1] for k in values} == {"meta-llama/Llama-3.1-8B-Instruct"}


def test_prometheus_parser_keeps_good_lines_around_bad_ones():
    text = 'a_metric{x="1"} 1\nthis is not prometheus\nb_metric 2\nc_metric{y="oops} 3\nd_metric NaN\n'
    assert [(s.name, s.value) for s in parse_prometheus(text, "test")] == [("a_metric", 1.0), ("b_metric", 2.0)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_parsers_never_crash_on_garbage(text):
    dcgm.parse(text)
    ascend.parse(text, node="h")
    try:
        nvidia_smi.parse(text)
    except ValueError:  # refused as a whole (not nvidia-smi's XML, no uuid column): a collector error
        pass
    tokens.parse(text)


def test_token_counters_created_times_from_created_samples_or_process_start():
    page = fixture_text("vllm-0.10-two-engines.prom")
    created = tokens.parse_created(page)
    assert set(created) == set(tokens.parse(page))
    assert set(created.values()) <= {1.759247912346612e09, 1.7592479123466e09}
    sglang = fixture_text("sglang-0.4-metrics.prom") + "process_start_time_seconds 1.76e+09\n"
    assert set(tokens.parse_created(sglang).values()) == {1.76e09}
