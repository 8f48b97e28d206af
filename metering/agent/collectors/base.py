"""What every GPU collector returns, and a Prometheus text parser that survives bad lines."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("kashi.agent.collectors")


@dataclass(frozen=True)
class GpuSample:
    """One accelerator as seen now.

    uuid: stable identity (NVIDIA ``GPU-…``, Ascend die id). index: driver index. model: the
    driver's model name (mapped to the catalog later). utilization: 0–1, None when unknown.
    labels: Kubernetes attribution labels, normalised to ``pod``, ``namespace``, ``container``.
    down: why the card is down now (an XID error, an unhealthy chip), else None (SPEC §15).
    mig_split: a MIG-enabled card whose instances do not all have one holder: it is billed to
    nobody as a whole (fractional MIG billing is out of scope) and counted by the agent.
    """

    uuid: str
    index: int | None
    model: str
    utilization: float | None = None
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    down: str | None = None
    mig_split: bool = False


class Collector(Protocol):
    name: str

    def collect(self) -> list[GpuSample]: ...


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _samples_of(text: str) -> list[Sample]:
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if math.isfinite(s.value):
                out.append(Sample(s.name, dict(s.labels), float(s.value)))
    return out


def parse_prometheus(text: str, origin: str) -> list[Sample]:
    """Samples of a Prometheus text page; garbage or truncated lines are logged and skipped.

    The whole page is parsed at once when it is clean; otherwise line by line, so one bad line
    (a proxy's error text, a page cut mid-line) costs that line only. NaN and ±Inf are dropped.
    """
    try:
        return _samples_of(text)
    except (ValueError, TypeError, IndexError):
        pass
    out: list[Sample] = []
    skipped = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            out.extend(_samples_of(stripped + "\n"))
        except (ValueError, TypeError, IndexError):
            skipped += 1
            log.warning(
                "skipped an unparsable metrics line",
                extra={"origin": origin, "line_number": number, "line": stripped[:200]},
            )
    if skipped:
        log.warning("metrics page had bad lines", extra={"origin": origin, "skipped": skipped})
    return out


def http_fetcher(url: str, timeout: float = 5.0) -> Callable[[], str]:
    """A function returning the text at `url` (raises httpx.HTTPError on failure)."""

    def fetch() -> str:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        return response.text

    return fetch
