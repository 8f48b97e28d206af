"""Huawei Ascend npu-exporter (default ``http://localhost:8082/metrics``).

Chips are discovered from every per-chip family (``npu_chip_info_*``: utilisation, health,
temperature, HBM …), so a page without ``npu_chip_info_utilization`` (older builds, some
910A nodes) still lists its chips, with utilisation unknown. ``npu_chip_info_utilization`` is the
AI-core utilisation in percent; ``npu_chip_info_health_status`` 0 marks a chip down.

Identity comes from the exporter's labels, never from the host running the agent (in a pod
that name changes on every restart): ``vdie_id`` (the die's unique id) when exported, else
``{node}-npu-{pcie_bus_info}``, else ``{node}-npu{id}``, `node` being the configured node name.
The model from ``model_name`` ("Ascend910B3", or ``<chip>-<type>-<version>`` such as
"910B3-Ascend-V1", normalised by `metering.agent.gpu_models`). In Kubernetes the exporter adds
``namespace``, ``pod_name`` and ``container_name``, normalised here to ``namespace``/``pod``/
``container``. Older builds spell some labels differently (``npuID``, ``modelName``, ``uuid``,
``podName``); both are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from metering.agent.collectors.base import GpuSample, http_fetcher, parse_prometheus

log = logging.getLogger("kashi.agent.collectors.ascend")

DEFAULT_URL = "http://localhost:8082/metrics"
CHIP_PREFIX = "npu_chip_info_"
UTIL = "npu_chip_info_utilization"
HEALTH = "npu_chip_info_health_status"


def _first(labels: dict[str, str], *names: str) -> str:
    for name in names:
        if labels.get(name):
            return labels[name]
    return ""


def _chip_id(labels: dict[str, str], node: str) -> str:
    die = "-".join(_first(labels, "vdie_id", "uuid").split())  # "3A6C5E4A 20D0C809 …"
    if die:
        return die
    bus = _first(labels, "pcie_bus_info", "pcie_bus")
    if bus:
        return f"{node}-npu-{bus}"
    chip = _first(labels, "id", "npuID", "npu_id")
    return f"{node}-npu{chip}" if chip else ""


def parse(text: str, origin: str = "ascend", node: str = "node") -> list[GpuSample]:
    """NPU samples of an npu-exporter page, in chip id order."""
    chips: dict[str, dict] = {}
    for s in parse_prometheus(text, origin):
        if not s.name.startswith(CHIP_PREFIX):
            continue
        uuid = _chip_id(s.labels, node)
        if not uuid:
            log.warning("npu sample without id skipped", extra={"origin": origin, "metric": s.name})
            continue
        chip = chips.setdefault(uuid, {"labels": {}})
        number = _first(s.labels, "id", "npuID", "npu_id")
        chip.setdefault("index", int(number) if number.isdigit() else None)
        chip["model"] = chip.get("model") or _first(s.labels, "model_name", "modelName", "name")
        for key, names in (
            ("namespace", ("namespace",)),
            ("pod", ("pod_name", "podName", "pod")),
            ("container", ("container_name", "containerName", "container")),
        ):
            value = _first(s.labels, *names)
            if value:
                chip["labels"][key] = value
        if s.name == UTIL:
            chip["utilization"] = s.value / 100.0
        elif s.name == HEALTH and s.value == 0:
            chip["down"] = "unhealthy (npu_chip_info_health_status 0)"
    samples = [
        GpuSample(uuid, c["index"], c["model"], c.get("utilization"), None, c["labels"], c.get("down"))
        for uuid, c in chips.items()
    ]
    return sorted(samples, key=lambda g: (g.index is None, g.index or 0, g.uuid))


class AscendCollector:
    name = "ascend"

    def __init__(self, url: str = DEFAULT_URL, fetch: Callable[[], str] | None = None, node: str = "node") -> None:
        self.url = url
        self.node = node
        self._fetch = fetch or http_fetcher(url)

    def collect(self) -> list[GpuSample]:
        return parse(self._fetch(), self.url, self.node)
