"""Recorded real outputs (tests/fixtures/agent/README.md gives each one's source) and their failure cases."""

from __future__ import annotations

import pytest

from metering.agent.collectors import ascend, dcgm, npu_smi, nvidia_smi
from metering.agent.collectors.base import GpuSample
from metering.agent.config import AgentConfig
from metering.agent.gpu_models import BUILTIN, ModelNames
from metering.agent.metrics import AgentMetrics
from metering.agent.slurm import SlurmAccounting, gres_indices, parse_sacct, sacct_layout
from metering.agent.wiring import AutoCollector

from .conftest import fixture_text


def test_nvidia_smi_xml_v12_with_mig_devices():
    (gpu,) = nvidia_smi.parse(fixture_text("nvidia-smi-q-x-a100-mig-v12.xml"))
    assert (gpu.uuid, gpu.index, gpu.model) == ("GPU-513536b6-7d19-9063-b049-1e69664bb298", 1, "NVIDIA A100-SXM4-80GB")
    assert gpu.utilization is None and gpu.labels == {"mig_instances": "4"}  # MIG: the card's util reads N/A


def test_nvidia_smi_xml_v11_tesla_t4():
    (gpu,) = nvidia_smi.parse(fixture_text("nvidia-smi-q-x-tesla-t4-v11.xml"))
    assert (gpu.uuid, gpu.model, gpu.utilization) == ("GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "Tesla T4", 0.0)
    assert ModelNames().catalog_name(gpu.model) == "T4"


def test_nvidia_smi_csv_columns_come_from_the_header_with_units():
    gpus = nvidia_smi.parse(fixture_text("nvidia-smi-query-gpu-header-units.csv"))
    assert [(g.uuid[:12], g.index, g.model) for g in gpus] == [
        ("GPU-df6e7a7c", 0, "NVIDIA GeForce RTX 2080 SUPER"),
        ("GPU-04757e3e", 1, "Some Other GPU"),
    ]


def test_nvidia_smi_noheader_csv_in_another_order_is_read_from_the_command():
    command = ["nvidia-smi", "--query-gpu=index,utilization.gpu,name,uuid", "--format=csv,noheader"]
    collector = nvidia_smi.NvidiaSmiCollector(command, run=lambda _: "0, 87 %, NVIDIA H200 NVL, GPU-aa\n")
    (gpu,) = collector.collect()
    assert (gpu.uuid, gpu.model, gpu.utilization) == ("GPU-aa", "NVIDIA H200 NVL", 0.87)
    with pytest.raises(ValueError, match="uuid"):
        nvidia_smi.parse_csv("0, 12\n", fields=("index", "utilization.gpu"))


def test_nvidia_smi_default_table_as_a_last_resort():
    gpus = nvidia_smi.parse_table(fixture_text("nvidia-smi-table-a40x10.txt"), hostname="a40-node")
    assert len(gpus) == 10 and gpus[9].uuid == "a40-node-gpu9" and gpus[0].utilization == 0.0
    assert ModelNames().catalog_name(gpus[0].model) == "A40"


def test_npu_smi_info_910b3_eight_cards():
    chips = npu_smi.parse(fixture_text("npu-smi-info-910b3x8.txt"), node="npu-7")
    assert len(chips) == 8 and chips[7].uuid == "npu-7-npu7-chip0" and chips[0].down is None
    assert ModelNames().catalog_name(chips[0].model) == "Ascend-910B3"


def test_npu_exporter_without_utilization_still_lists_chips_down_when_unhealthy():
    page = (
        'npu_chip_info_health_status{id="0",model_name="910B3-Ascend-V1",pcie_bus_info="0000:C1:00.0"} 0\n'
        'npu_chip_info_temperature{id="1",model_name="910B3-Ascend-V1",pcie_bus_info="0000:C2:00.0"} 41\n'
    )
    chips = ascend.parse(page, node="npu-7")
    assert [c.uuid for c in chips] == ["npu-7-npu-0000:C1:00.0", "npu-7-npu-0000:C2:00.0"]
    assert chips[0].down and chips[1].down is None and chips[1].utilization is None
    assert ascend.parse("", node="npu-7") == []  # an empty page: no chips (the loop then says so)


@pytest.mark.parametrize(
    "driver, catalog",
    [
        ("NVIDIA H200 NVL", "H200-NVL"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("NVIDIA H800 PCIe", "H800-PCIe"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
        ("910B3-Ascend-V1", "Ascend-910B3"),
        ("910Awn-Ascend-V1", "Ascend-910A"),
        ("910B4-Ascend-V1", "Ascend-910B"),
        ("Ascend310P3", "Ascend-310P"),
        ("NVIDIA GB200", "GB200"),
        ("Tesla P100-PCIE-16GB", "P100"),
        ("NVIDIA A10G", "A10G"),
    ],
)
def test_form_factors_stay_distinct(driver, catalog):
    assert ModelNames().catalog_name(driver) == catalog


def test_every_name_the_agent_maps_to_is_in_the_default_catalog():
    from billing.core.catalog import DEFAULT_CATALOG  # the test may look at the server; the agent may not

    names = ModelNames()
    mapped = set(BUILTIN.values()) | {
        names.catalog_name(n) for n in ("Ascend910B3", "Ascend910B", "Ascend910", "Ascend910C", "Ascend310P3")
    }
    assert sorted(m for m in mapped if m not in DEFAULT_CATALOG) == []


def test_an_unknown_model_is_sent_raw_and_logged_once_with_the_fix(caplog):
    names = ModelNames()
    assert names.catalog_name("Moore Threads MTT S4000") == "Moore Threads MTT S4000"
    names.catalog_name("Moore Threads MTT S4000")
    warnings = [r for r in caplog.records if "not in the agent's table" in r.getMessage()]
    assert len(warnings) == 1 and "[models]" in warnings[0].fix


def test_dcgm_mig_card_split_between_namespaces_is_no_ones():
    def line(i, ns, pod):
        return (
            f'DCGM_FI_PROF_GR_ENGINE_ACTIVE{{gpu="0",UUID="GPU-m",modelName="NVIDIA A100-SXM4-80GB",'
            f'GPU_I_PROFILE="3g.40gb",GPU_I_ID="{i}",namespace="{ns}",pod="{pod}"}} 0.5\n'
        )

    split = dcgm.parse(line(1, "team-a", "a-0") + line(2, "team-b", "b-0"))[0]
    assert split.mig_split and split.labels == {}
    whole = dcgm.parse(line(1, "team-a", "a-0") + line(2, "team-a", "a-1"))[0]
    assert not whole.mig_split and whole.labels["namespace"] == "team-a"
    partial = dcgm.parse(line(1, "team-a", "a-0") + line(2, "", ""))[0]
    assert partial.mig_split


def test_dcgm_fatal_xid_marks_the_card_down():
    page = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-x",modelName="NVIDIA H100 80GB HBM3"} 0\n'
        'DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-x",modelName="NVIDIA H100 80GB HBM3"} 79\n'
    )
    assert dcgm.parse(page)[0].down == "XID 79 (DCGM_FI_DEV_XID_ERRORS)"


def test_sacct_steps_are_skipped_whatever_the_command():
    jobs = parse_sacct(fixture_text("sacct-P-steps.txt"))
    assert [(j.job_id, j.gpus) for j in jobs] == [("22496092", 1)]  # not 4 GPUs from .batch/.extern/.0


def test_sacct_noheader_other_delimiter_and_order_or_refused_at_start():
    command = [
        "sacct",
        "-a",
        "-X",
        "-n",
        "--parsable2",
        "--delimiter=;",
        "--format=NodeList,JobID,AllocTRES,State,Account,Start",
    ]
    delimiter, columns, header = sacct_layout(command)
    jobs = parse_sacct("gpu-node-07;7;gres/gpu=2;RUNNING;proj;2026-10-01T00:00:00\n", delimiter, columns, header)
    assert [(j.job_id, j.account, j.gpus) for j in jobs] == [("7", "proj", 2)]
    with pytest.raises(ValueError, match="parsable"):
        sacct_layout(["sacct", "-a", "--format=JobID,Account,State,NodeList,AllocTRES"])
    with pytest.raises(ValueError, match="noheader"):
        sacct_layout(["sacct", "-P", "--noheader"])


def test_a_failing_sacct_makes_the_allocation_stale_after_two_polls():
    ticks, errors = iter([0.0, 31.0, 62.0]), []
    answers = iter([fixture_text("sacct-P-running.txt")])

    def run(command):
        try:
            return next(answers)
        except StopIteration:
            raise OSError("sacct: error: Problem talking to the database: Connection refused") from None

    source = SlurmAccounting("gpu-node-07", {}, run=run, monotonic=lambda: next(ticks), on_error=errors.append)
    assert len(source.holders([])) == 7
    assert len(source.holders([])) == 7  # one failed poll: still within 2 × poll_seconds
    assert source.holders([]) == {} and errors == ["sacct", "sacct", "stale"]


def test_scontrol_gives_the_real_gpu_index():
    assert gres_indices(fixture_text("scontrol-show-job-d.txt"), "gpu-node-07") == [3]
    samples = [GpuSample(f"GPU-{i}", i, "NVIDIA H100 80GB HBM3") for i in range(4)]

    def run(command):
        return fixture_text("scontrol-show-job-d.txt" if command[0] == "scontrol" else "sacct-P-steps.txt")

    source = SlurmAccounting("gpu-node-07", {"proj-llm": "tenant-llm"}, run=run, scontrol=True)
    assert {g: h.tenant for g, h in source.holders(samples).items()} == {"GPU-3": "tenant-llm"}


def test_auto_picks_in_order_the_first_collector_that_sees_a_gpu():
    class Fake:
        def __init__(self, name, gpus):
            self.name, self.gpus = name, gpus

        def collect(self):
            if self.gpus is None:
                raise OSError("not here")
            return self.gpus

    metrics = AgentMetrics()
    found = [GpuSample("GPU-1", 0, "NVIDIA L40S")]
    auto = AutoCollector(
        [
            ("nvml", lambda: Fake("nvml", None)),
            ("dcgm", lambda: Fake("dcgm", [])),
            ("nvidia-smi", lambda: Fake("nvidia-smi", found)),
        ],
        metrics,
    )
    assert auto.collect() == found and auto.name == "nvidia-smi"
    assert metrics.collector.labels(collector="nvidia-smi")._value.get() == 1


def test_config_accepts_npu_smi_and_scontrol():
    config = AgentConfig.model_validate(
        {"source": "node/n", "gpu": {"collector": "npu-smi"}, "allocation": {"source": "slurm", "scontrol": False}}
    )
    assert config.gpu.collector == "npu-smi" and config.allocation.scontrol is False


def test_nvidia_smi_q_text():
    gpus = nvidia_smi.parse(fixture_text("nvidia-smi-q-a40.txt"))
    assert [(g.uuid, g.index, g.model, g.utilization, g.down) for g in gpus] == [
        ("GPU-4e65de01-972e-93cf-b077-181a5378972a", 0, "NVIDIA A40", 0.0, None),
        ("GPU-8c45994a-7fe3-4f26-b7e9-4d496ae2d5cf", 1, "NVIDIA A40", 0.0, None),
    ]


def test_a_real_node_output_never_gives_zero_gpus():
    for name in (
        "nvidia-smi-q-x-a100-mig-v12.xml",
        "nvidia-smi-q-x-tesla-t4-v11.xml",
        "nvidia-smi-q-a40.txt",
        "nvidia-smi-query-gpu-header-units.csv",
        "nvidia-smi-table-a40x10.txt",
        "nvidia-smi-query-gpu.csv",
    ):
        assert nvidia_smi.parse(fixture_text(name)), name
    assert npu_smi.parse(fixture_text("npu-smi-info-910b3x8.txt"))
    assert ascend.parse(fixture_text("npu-exporter-910b.prom"))
