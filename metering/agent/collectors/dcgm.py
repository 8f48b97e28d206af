"""NVIDIA DCGM exporter (default ``http://localhost:9400/metrics``).

Reads ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (ratio 0–1) when exported, else ``DCGM_FI_DEV_GPU_UTIL``
(percent). Labels: ``UUID``, ``gpu``, ``modelName``, host ``Hostname`` (older exporters) or
``hostname`` (newer), and in Kubernetes ``pod``/``namespace``/``container`` of the pod holding
the GPU (empty when none). MIG instances (``GPU_I_ID``) are folded into their parent GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from metering.agent.collectors.base import GpuSample, http_fetcher, parse_prometheus

log = logging.getLogger("kashi.agent.collectors.dcgm")

DEFAULT_URL = "http://localhost:9400/metrics"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def parse(text: str, origin: str = "dcgm") -> list[GpuSample]:
    """GPU samples of a DCGM exporter page, one per UUID, in driver index order."""
    seen: dict[str, dict] = {}
    for s in parse_prometheus(text, origin):
        if s.name not in (UTIL, ENGINE_ACTIVE):
            continue
        uuid = s.labels.get("UUID") or s.labels.get("uuid")
        if not uuid:
            log.warning("DCGM sample without UUID skipped", extra={"origin": origin, "metric": s.name})
            continue
        gpu = seen.setdefault(
            uuid,
            {"index": _int_or_none(s.labels.get("gpu")), "model": s.labels.get("modelName", ""), "labels": {}},
        )
        gpu["hostname"] = s.labels.get("Hostname") or s.labels.get("hostname") or gpu.get("hostname")
        for key in ("pod", "namespace", "container"):
            if s.labels.get(key):
                gpu["labels"][key] = s.labels[key]
        if s.name == ENGINE_ACTIVE:
            gpu.setdefault("active", []).append(s.value)
        else:
            gpu.setdefault("util", []).append(s.value / 100.0)
    samples = []
    for uuid, gpu in seen.items():
        values = gpu.get("active") or gpu.get("util")
        utilization = sum(values) / len(values) if values else None
        samples.append(
            GpuSample(uuid, gpu["index"], gpu["model"], utilization, gpu.get("hostname"), dict(gpu["labels"]))
        )
    return sorted(samples, key=lambda g: (g.index is None, g.index or 0, g.uuid))


class DcgmCollector:
    name = "dcgm"

    def __init__(self, url: str = DEFAULT_URL, fetch: Callable[[], str] | None = None) -> None:
        self.url = url
        self._fetch = fetch or http_fetcher(url)

    def collect(self) -> list[GpuSample]:
        return parse(self._fetch(), self.url)
