"""Huawei Ascend npu-exporter (default ``http://localhost:8082/metrics``).

``npu_chip_info_utilization`` is the AI-core utilisation in percent. Identity comes from
``vdie_id`` (the die's unique id) when exported, else ``{hostname}-npu{id}``; the model from
``model_name`` ("Ascend910B3" …). In Kubernetes the exporter adds ``namespace``, ``pod_name``
and ``container_name``, normalised here to ``namespace``/``pod``/``container``. Older builds
spell some labels differently (``npuID``, ``modelName``, ``uuid``, ``podName``); both are read.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from metering.agent.collectors.base import GpuSample, http_fetcher, parse_prometheus

log = logging.getLogger("kashi.agent.collectors.ascend")

DEFAULT_URL = "http://localhost:8082/metrics"
UTIL = "npu_chip_info_utilization"


def _first(labels: dict[str, str], *names: str) -> str:
    for name in names:
        if labels.get(name):
            return labels[name]
    return ""


def parse(text: str, origin: str = "ascend", hostname: str | None = None) -> list[GpuSample]:
    """NPU samples of an npu-exporter page, in chip id order."""
    host = hostname or socket.gethostname()
    out: dict[str, GpuSample] = {}
    for s in parse_prometheus(text, origin):
        if s.name != UTIL:
            continue
        chip = _first(s.labels, "id", "npuID", "npu_id")
        die = "-".join(_first(s.labels, "vdie_id", "uuid").split())  # "3A6C5E4A 20D0C809 …"
        uuid = die or (f"{host}-npu{chip}" if chip else "")
        if not uuid:
            log.warning("npu sample without id skipped", extra={"origin": origin})
            continue
        labels = {
            "namespace": _first(s.labels, "namespace"),
            "pod": _first(s.labels, "pod_name", "podName", "pod"),
            "container": _first(s.labels, "container_name", "containerName", "container"),
        }
        out[uuid] = GpuSample(
            uuid=uuid,
            index=int(chip) if chip.isdigit() else None,
            model=_first(s.labels, "model_name", "modelName", "name"),
            utilization=s.value / 100.0,
            hostname=host,
            labels={k: v for k, v in labels.items() if v},
        )
    return sorted(out.values(), key=lambda g: (g.index is None, g.index or 0, g.uuid))


class AscendCollector:
    name = "ascend"

    def __init__(self, url: str = DEFAULT_URL, fetch: Callable[[], str] | None = None) -> None:
        self.url = url
        self._fetch = fetch or http_fetcher(url)

    def collect(self) -> list[GpuSample]:
        return parse(self._fetch(), self.url)
