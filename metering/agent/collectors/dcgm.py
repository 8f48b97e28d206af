"""NVIDIA DCGM exporter (default ``http://localhost:9400/metrics``).

Reads ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (ratio 0–1) when exported, else ``DCGM_FI_DEV_GPU_UTIL``
(percent). Labels: ``UUID``, ``gpu``, ``modelName``, host ``Hostname`` (older exporters) or
``hostname`` (newer), and in Kubernetes ``pod``/``namespace``/``container`` of the pod holding
the GPU (empty when none). ``DCGM_FI_DEV_XID_ERRORS`` (the last XID seen) marks a card down
when it is one of the XIDs that take a card out of service (`FATAL_XIDS`).

MIG: instances (``GPU_I_ID``) are folded into their parent card, which is billed to a holder only
when every instance carries that holder's namespace; otherwise the card is a ``mig_split`` (its
labels dropped, so nobody is billed the whole card for one instance's pod).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from metering.agent.collectors.base import GpuSample, http_fetcher, parse_prometheus

log = logging.getLogger("kashi.agent.collectors.dcgm")

DEFAULT_URL = "http://localhost:9400/metrics"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
XID = "DCGM_FI_DEV_XID_ERRORS"
FATAL_XIDS = frozenset({48, 61, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140})
"""XIDs after which the card needs a reset or is off the bus (NVIDIA XID catalogue): DBE ECC,
row remap failure, NVLink, fallen off the bus, contained/uncontained ECC, GSP errors."""


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def parse(text: str, origin: str = "dcgm") -> list[GpuSample]:
    """GPU samples of a DCGM exporter page, one per UUID, in driver index order."""
    seen: dict[str, dict] = {}
    xids: dict[str, int] = {}
    for s in parse_prometheus(text, origin):
        if s.name == XID:
            uuid = s.labels.get("UUID") or s.labels.get("uuid")
            if uuid and int(s.value) in FATAL_XIDS:
                xids[uuid] = int(s.value)
            continue
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
        instance = s.labels.get("GPU_I_ID")
        if instance:
            held = s.labels.get("namespace", "") if s.labels.get("pod") else ""
            gpu.setdefault("instances", {})[instance] = held
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
        labels, split = dict(gpu["labels"]), False
        instances = gpu.get("instances")
        if instances:
            holders = set(instances.values())
            split = len(holders) != 1 or "" in holders
            if split:
                labels = {}
            else:
                labels["namespace"] = holders.pop()
        down = f"XID {xids[uuid]} (DCGM_FI_DEV_XID_ERRORS)" if uuid in xids else None
        samples.append(
            GpuSample(uuid, gpu["index"], gpu["model"], utilization, gpu.get("hostname"), labels, down, split)
        )
    return sorted(samples, key=lambda g: (g.index is None, g.index or 0, g.uuid))


class DcgmCollector:
    name = "dcgm"

    def __init__(self, url: str = DEFAULT_URL, fetch: Callable[[], str] | None = None) -> None:
        self.url = url
        self._fetch = fetch or http_fetcher(url)

    def collect(self) -> list[GpuSample]:
        return parse(self._fetch(), self.url)
