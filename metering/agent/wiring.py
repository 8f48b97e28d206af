"""Builds an `Agent` and its `Sender` from an `AgentConfig` (the only place that does)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from metering.agent.allocation import AllocationSource, KubernetesLabels, LeasesFile
from metering.agent.collectors import ascend, dcgm, npu_smi, nvidia_smi, nvml
from metering.agent.collectors.base import Collector, GpuSample
from metering.agent.collectors.tokens import TokenCounterReader
from metering.agent.config import AgentConfig
from metering.agent.gpu_models import ModelNames
from metering.agent.loop import Agent, TokenEndpoint
from metering.agent.metrics import AgentMetrics
from metering.agent.slurm import SlurmAccounting
from metering.agent.spool import Spool

log = logging.getLogger("kashi.agent")


AUTO_ORDER = ("nvml", "dcgm", "nvidia-smi", "ascend", "npu-smi")
"""`collector = "auto"` tries these in order and keeps the first that sees a GPU."""


class AutoCollector:
    """The first collector of `AUTO_ORDER` that answers with at least one GPU; probed again on
    each read until one does (an exporter may start after the agent). Says which in the log and
    in ``kashi_agent_collector{collector}``."""

    def __init__(self, candidates: list[tuple[str, Callable[[], Collector]]], metrics: AgentMetrics) -> None:
        self._candidates = candidates
        self._metrics = metrics
        self.chosen: Collector | None = None
        self.name = "auto"
        self._warned = False

    def collect(self) -> list[GpuSample]:
        if self.chosen is not None:
            return self.chosen.collect()
        tried = {}
        for name, make in self._candidates:
            try:
                collector = make()
                samples = collector.collect()
            except Exception as error:  # probing third-party tools: any failure means "not this one"
                tried[name] = repr(error)[:200]
                continue
            if samples:
                self.chosen, self.name = collector, collector.name
                self._metrics.collector.labels(collector=collector.name).set(1)
                log.info("GPU collector chosen", extra={"collector": collector.name, "gpus": len(samples)})
                return samples
            tried[name] = "no GPU"
        if not self._warned:  # the loop says so every window in which GPUs are held
            self._warned = True
            log.error("no GPU collector found a GPU (auto); probing again at each sample", extra={"tried": tried})
        return []


def _collector(kind: str, config: AgentConfig) -> Collector:
    gpu = config.gpu
    if kind == "dcgm":
        return dcgm.DcgmCollector(gpu.url or dcgm.DEFAULT_URL)
    if kind == "ascend":
        return ascend.AscendCollector(gpu.url or ascend.DEFAULT_URL, node=config.node_name)
    if kind == "nvidia-smi":
        return nvidia_smi.NvidiaSmiCollector(gpu.command or nvidia_smi.COMMAND)
    if kind == "npu-smi":
        return npu_smi.NpuSmiCollector(gpu.command or npu_smi.COMMAND, node=config.node_name)
    return nvml.NvmlCollector()


def build_collector(config: AgentConfig, metrics: AgentMetrics | None = None) -> Collector | None:
    kind = config.gpu.collector
    metrics = metrics or AgentMetrics()
    if kind == "none":
        return None
    if kind == "auto":
        # an explicit url/command belongs to the collector named for it; auto uses the defaults
        defaults = config.model_copy(update={"gpu": config.gpu.model_copy(update={"url": None, "command": None})})
        return AutoCollector([(k, lambda k=k: _collector(k, defaults)) for k in AUTO_ORDER], metrics)
    metrics.collector.labels(collector=kind).set(1)
    return _collector(kind, config)


def build_allocation(config: AgentConfig, metrics: AgentMetrics | None = None) -> AllocationSource:
    a = config.allocation
    metrics = metrics or AgentMetrics()
    if a.source == "kubernetes":
        return KubernetesLabels(a.namespaces, a.unmapped or "namespace")
    if a.source == "slurm":
        return SlurmAccounting(
            config.node_name,
            a.accounts,
            unmapped=a.unmapped or "account",
            command=a.sacct_command,
            poll_s=a.poll_seconds,
            scontrol=a.scontrol,
            on_error=lambda reason: metrics.allocation_errors.labels(source="slurm", reason=reason).inc(),
        )
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
    metrics = metrics or AgentMetrics()
    return Agent(
        source=config.source,
        node=config.node_name,
        window_s=config.window_seconds,
        tz=config.tz,
        collector=build_collector(config, metrics),
        allocation=build_allocation(config, metrics),
        clock=clock,
        models=ModelNames(config.models),
        tokens=[TokenEndpoint(t, TokenCounterReader(t.url)) for t in config.tokens],
        spool=spool,
        metrics=metrics,
        emit=emit,
        default_model=config.gpu.default_model,
    )
