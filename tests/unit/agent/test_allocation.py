"""Allocation sources: leases file, Kubernetes labels, Slurm accounting."""

import os

from metering.agent.allocation import KubernetesLabels, LeasesFile, parse_leases
from metering.agent.collectors import dcgm
from metering.agent.collectors.base import GpuSample
from metering.agent.events import Holder
from metering.agent.slurm import SlurmAccounting, allocate, expand_hostlist, gpu_count, parse_sacct

from .conftest import fixture_text


def test_leases_json_and_text_forms():
    assert parse_leases('{"GPU-1": "t-a", "GPU-2": {"tenant": "t-b", "contract_id": "c-9"}}') == {
        "GPU-1": Holder("t-a"),
        "GPU-2": Holder("t-b", "c-9"),
    }
    assert parse_leases('{"leases": [{"gpu": "GPU-3", "tenant": "t-c"}]}') == {"GPU-3": Holder("t-c")}
    assert parse_leases("# scheduler output\nGPU-1 t-a\nGPU-2,t-b,c-9\nbroken line with too many fields\n") == {
        "GPU-1": Holder("t-a"),
        "GPU-2": Holder("t-b", "c-9"),
    }


def test_leases_file_reloads_when_it_changes_and_survives_a_torn_write(tmp_path):
    path = tmp_path / "leases.json"
    leases = LeasesFile(path)
    assert leases.holders([]) == {}  # missing file: nobody holds anything
    path.write_text('{"GPU-1": "t-a"}')
    assert leases.holders([]) == {"GPU-1": Holder("t-a")}
    path.write_text('{"GPU-1": "t-b", "GPU-2": "t-a"}')
    os.utime(path, ns=(1, 1_000_000_000))  # a different mtime even on coarse clocks
    assert leases.holders([]) == {"GPU-1": Holder("t-b"), "GPU-2": Holder("t-a")}
    path.write_text('{"GPU-1": "t-')  # the scheduler wrote without renaming
    assert leases.holders([]) == {"GPU-1": Holder("t-b"), "GPU-2": Holder("t-a")}


def test_kubernetes_namespaces_map_to_tenants():
    gpus = dcgm.parse(fixture_text("dcgm-exporter-3.3-k8s-Hostname.prom"))
    source = KubernetesLabels({"team-a": "tenant-a", "research": {"tenant": "tenant-r", "contract_id": "c-1"}})
    holders = source.holders(gpus)
    assert holders[gpus[0].uuid] == Holder("tenant-a")
    assert holders[gpus[4].uuid] == Holder("tenant-r", "c-1")
    assert gpus[5].uuid not in holders  # no pod: idle capacity
    assert holders[gpus[7].uuid] == Holder("kube-system")  # unmapped: billed to the namespace's name
    ignoring = KubernetesLabels({"team-a": "tenant-a"}, unmapped="ignore").holders(gpus)
    assert set(ignoring) == {g.uuid for g in gpus[:4]}


def test_sacct_parsing_skips_garbage_and_partial_lines():
    jobs = parse_sacct(fixture_text("sacct-P-running.txt"))
    assert [j.job_id for j in jobs] == ["48211", "48230", "48190", "48233", "48235", "48236"]
    assert jobs[1].nodes == ("gpu-node-07", "gpu-node-08")
    assert [j.gpus for j in jobs] == [4, 4, 8, 0, 1, 8]


def test_hostlists_and_tres():
    assert expand_hostlist("gpu[01-03,07],login1") == ["gpu01", "gpu02", "gpu03", "gpu07", "login1"]
    assert gpu_count("billing=8,cpu=8,gres/gpu:h100=2,gres/gpu:a100=1,mem=1G") == 3
    assert gpu_count("billing=8,gres/gpu:h100=4,gres/gpu=4") == 4


def test_slurm_bills_what_was_allocated_on_this_node():
    samples = [GpuSample(f"GPU-{i}", i, "NVIDIA H100 80GB HBM3") for i in range(8)]
    jobs = parse_sacct(fixture_text("sacct-P-running.txt"))
    holders = allocate("gpu-node-07", jobs, samples, {"proj-llm": Holder("tenant-llm")}, "account")
    # 48211: 4 GPUs; 48230: 4 GPUs over 2 nodes → 2 here; 48235: 1; completed and other-node jobs: none
    assert holders == {
        "GPU-0": Holder("tenant-llm"),
        "GPU-1": Holder("tenant-llm"),
        "GPU-2": Holder("tenant-llm"),
        "GPU-3": Holder("tenant-llm"),
        "GPU-4": Holder("proj-vision"),
        "GPU-5": Holder("proj-vision"),
        "GPU-6": Holder("student-lab"),
    }
    ignoring = allocate("gpu-node-07", jobs, samples, {"proj-llm": Holder("tenant-llm")}, "ignore")
    assert set(ignoring) == {"GPU-0", "GPU-1", "GPU-2", "GPU-3"}


def test_slurm_without_visible_gpus_uses_synthetic_ids_and_polls_sparingly():
    calls = []
    ticks = iter([0.0, 1.0, 40.0])
    source = SlurmAccounting(
        "gpu-node-07",
        {},
        run=lambda cmd: calls.append(cmd) or fixture_text("sacct-P-running.txt"),
        monotonic=lambda: next(ticks),
    )
    holders = source.holders([])
    assert len(holders) == 7 and "gpu-node-07-slurm-gpu0" in holders
    source.holders([])
    source.holders([])
    assert len(calls) == 2
    assert "--nodelist=gpu-node-07" in calls[0] and "-P" in calls[0]
