"""Builds an `Agent` and its `Sender` from an `AgentConfig` (the only place that does)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from metering.agent.allocation import AllocationSource, KubernetesLabels, LeasesFile
from metering.agent.collectors import ascend, dcgm, nvidia_smi, nvml
from metering.agent.collectors.base import Collector
from metering.agent.collectors.tokens import TokenCounterReader
from metering.agent.config import AgentConfig
from metering.agent.gpu_models import ModelNames
from metering.agent.loop import Agent, TokenEndpoint
from metering.agent.metrics import AgentMetrics
from metering.agent.slurm import SlurmAccounting
from metering.agent.spool import Spool

log = logging.getLogger("kashi.agent")


def build_collector(config: AgentConfig) -> Collector | None:
    gpu = config.gpu
    kind = gpu.collector
    if kind == "auto":
        kind = "nvml" if nvml.available() else "dcgm"
        log.info("GPU collector chosen", extra={"collector": kind})
    if kind == "none":
        return None
    if kind == "dcgm":
        return dcgm.DcgmCollector(gpu.url or dcgm.DEFAULT_URL)
    if kind == "ascend":
        return ascend.AscendCollector(gpu.url or ascend.DEFAULT_URL)
    if kind == "nvidia-smi":
        return nvidia_smi.NvidiaSmiCollector(gpu.command or nvidia_smi.COMMAND)
    return nvml.NvmlCollector()


def build_allocation(config: AgentConfig) -> AllocationSource:
    a = config.allocation
    if a.source == "kubernetes":
        return KubernetesLabels(a.namespaces, a.unmapped or "namespace")
    if a.source == "slurm":
        return SlurmAccounting(
            config.node_name, a.accounts, unmapped=a.unmapped or "account",
            command=a.sacct_command, poll_s=a.poll_seconds,
        )  # fmt: skip
    return LeasesFile(a.leases_file)


def build_agent(
    config: AgentConfig,
    *,
    dry_run: bool = False,
    emit: Callable[[list[dict]], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    metrics: AgentMetrics | None = None,
) -> Agent:
    spool = None if dry_run else Spool(config.spool.dir, config.spool.max_bytes)
    return Agent(
        source=config.source,
        node=config.node_name,
        window_s=config.window_seconds,
        tz=config.tz,
        collector=build_collector(config),
        allocation=build_allocation(config),
        clock=clock,
        models=ModelNames(config.models),
        tokens=[TokenEndpoint(t, TokenCounterReader(t.url)) for t in config.tokens],
        spool=spool,
        metrics=metrics or AgentMetrics(),
        emit=emit,
        default_model=config.gpu.default_model,
    )
