"""Who holds which GPU (SPEC §3: `subject` is the tenant).

Each source answers ``holders(samples) -> {gpu uuid: Holder}``; a GPU absent from the answer is
held by nobody: it sends no billable event but still counts as capacity.

* `LeasesFile`: a file the operator's scheduler writes, reloaded when it changes. JSON
  (``{"GPU-…": "tenant-a"}`` or ``{"GPU-…": {"tenant": "tenant-a", "contract_id": "c-7"}}``)
  or plain lines ``GPU-… tenant-a [contract-id]``. Write it atomically (write, then rename);
  a half-written file is ignored and the previous leases kept.
* `KubernetesLabels`: the ``namespace`` label DCGM (or the npu-exporter) attaches to a GPU
  held by a pod, mapped to a tenant by a table; unmapped namespaces bill to the namespace's
  own name (``unmapped = "namespace"``) or not at all (``unmapped = "ignore"``).
* Slurm accounting: see `metering.agent.slurm`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from metering.agent.collectors.base import GpuSample
from metering.agent.events import Holder

log = logging.getLogger("kashi.agent.allocation")


class AllocationSource(Protocol):
    def holders(self, samples: list[GpuSample]) -> dict[str, Holder]: ...


def _holder(value: object) -> Holder | None:
    if isinstance(value, str) and value.strip():
        return Holder(value.strip())
    if isinstance(value, Mapping) and isinstance(value.get("tenant"), str) and value["tenant"].strip():
        contract = value.get("contract_id")
        return Holder(value["tenant"].strip(), str(contract) if contract else None)
    return None


def parse_leases(text: str) -> dict[str, Holder]:
    """Leases from the file's text; raises ValueError when it is not a leases file at all."""
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped[0] in "{[":
        raw = json.loads(stripped)
        if isinstance(raw, Mapping) and "leases" in raw:
            raw = raw["leases"]
        items = [(e.get("gpu"), e) for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else raw.items()
        out = {}
        for gpu, value in items:
            holder = _holder(value)
            if isinstance(gpu, str) and holder:
                out[gpu] = holder
            else:
                log.warning("skipped a lease entry", extra={"gpu": str(gpu)})
        return out
    out = {}
    for number, line in enumerate(stripped.splitlines(), 1):
        fields = line.split("#", 1)[0].replace(",", " ").split()
        if not fields:
            continue
        if len(fields) not in (2, 3):
            log.warning("skipped a lease line", extra={"line_number": number, "line": line[:200]})
            continue
        out[fields[0]] = Holder(fields[1], fields[2] if len(fields) == 3 else None)
    return out


class LeasesFile:
    """Leases read from `path`, reloaded when its modification time or size changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._leases: dict[str, Holder] = {}

    def holders(self, samples: list[GpuSample]) -> dict[str, Holder]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._stamp != (-1, -1):
                log.warning("leases file missing: no GPU is held", extra={"path": str(self.path)})
            self._stamp, self._leases = (-1, -1), {}
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._leases = parse_leases(self.path.read_text(encoding="utf-8"))
                log.info("leases loaded", extra={"path": str(self.path), "leases": len(self._leases)})
            except (ValueError, UnicodeDecodeError) as error:
                log.error(
                    "leases file unreadable, keeping the previous leases",
                    extra={"path": str(self.path), "error": str(error)},
                )
            self._stamp = stamp
        return dict(self._leases)


class KubernetesLabels:
    """Tenants from the pod labels the DCGM exporter puts on each GPU."""

    def __init__(self, namespaces: Mapping[str, object], unmapped: str = "namespace") -> None:
        if unmapped not in ("namespace", "ignore"):
            raise ValueError('unmapped must be "namespace" or "ignore"')
        self.namespaces = {ns: h for ns, value in namespaces.items() if (h := _holder(value))}
        self.unmapped = unmapped
        self._warned: set[str] = set()

    def holders(self, samples: list[GpuSample]) -> dict[str, Holder]:
        out = {}
        for sample in samples:
            namespace = sample.labels.get("namespace")
            if not namespace or not sample.labels.get("pod"):
                continue
            holder = self.namespaces.get(namespace)
            if holder is None:
                if namespace not in self._warned:
                    self._warned.add(namespace)
                    log.warning(
                        "namespace has no tenant in the config",
                        extra={"namespace": namespace, "unmapped": self.unmapped},
                    )
                if self.unmapped == "ignore":
                    continue
                holder = Holder(namespace)
            out[sample.uuid] = holder
        return out
