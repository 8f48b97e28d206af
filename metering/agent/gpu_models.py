"""Driver model names → Kashi catalog names (SPEC §2 GPU catalog).

`nvidia-smi`, NVML and DCGM report marketing strings ("NVIDIA H100 80GB HBM3"); the catalog
prices "H100-SXM". Form factors with different compute stay distinct: H100-PCIe and H100-NVL are
not H100-SXM, H200-NVL is not H200, H800-PCIe is not H800. Ascend reports "Ascend910B3" (DCMI,
npu-smi: "910B3") or, from the npu-exporter, ``<chip>-<type>-<version>`` ("910B3-Ascend-V1").
Operators extend or override the table with ``[models]`` in agent.toml. An unknown name is sent
as is (the server keeps it as unrated usage, never drops it) and logged once with the fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

log = logging.getLogger("kashi.agent.models")

BUILTIN: dict[str, str] = {
    "NVIDIA GB200": "GB200",
    "NVIDIA B200": "B200",
    "NVIDIA H200": "H200",
    "NVIDIA H200 NVL": "H200-NVL",
    "NVIDIA H100 80GB HBM3": "H100-SXM",
    "NVIDIA H100 SXM5 80GB": "H100-SXM",
    "NVIDIA H100 SXM5 64GB": "H100-SXM",
    "NVIDIA H100 PCIe": "H100-PCIe",
    "NVIDIA H100 NVL": "H100-NVL",
    "NVIDIA H800": "H800",
    "NVIDIA H800 80GB HBM3": "H800",
    "NVIDIA H800 PCIe": "H800-PCIe",
    "NVIDIA H20": "H20",
    "NVIDIA A100-SXM4-80GB": "A100",
    "NVIDIA A100-SXM4-40GB": "A100",
    "NVIDIA A100-PCIE-40GB": "A100",
    "NVIDIA A100 80GB PCIe": "A100",
    "NVIDIA A800-SXM4-80GB": "A800",
    "NVIDIA A800-SXM4-40GB": "A800",
    "NVIDIA A800 80GB PCIe": "A800",
    "NVIDIA L40S": "L40S",
    "NVIDIA L40": "L40",
    "NVIDIA L20": "L20",
    "NVIDIA L4": "L4",
    "NVIDIA A10": "A10",
    "NVIDIA A10G": "A10G",
    "NVIDIA A30": "A30",
    "NVIDIA A40": "A40",
    "NVIDIA GeForce RTX 4090": "RTX-4090",
    "NVIDIA GeForce RTX 4090 D": "RTX-4090D",
    "NVIDIA GeForce RTX 3090": "RTX-3090",
    "NVIDIA GeForce RTX 5090": "RTX-5090",
    "Tesla V100-SXM2-16GB": "V100",
    "Tesla V100-SXM2-32GB": "V100",
    "Tesla V100S-PCIE-32GB": "V100-PCIe",
    "Tesla V100-PCIE-16GB": "V100-PCIe",
    "Tesla V100-PCIE-32GB": "V100-PCIe",
    "Tesla P100-PCIE-12GB": "P100",
    "Tesla P100-PCIE-16GB": "P100",
    "Tesla P100-SXM2-16GB": "P100-SXM2",
    "Tesla T4": "T4",
    "NVIDIA T4": "T4",
}

# Families whose memory size or board suffix varies: "NVIDIA H200 141GB HBM3e", "NVIDIA GB200 …".
_NVIDIA_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^nvidia gb200\b", re.I), "GB200"),
    (re.compile(r"^nvidia b200\b", re.I), "B200"),
    (re.compile(r"^nvidia h200 nvl\b", re.I), "H200-NVL"),
    (re.compile(r"^nvidia h200\b", re.I), "H200"),
    (re.compile(r"^nvidia h100 nvl\b", re.I), "H100-NVL"),
    (re.compile(r"^nvidia h100 pcie\b", re.I), "H100-PCIe"),
    (re.compile(r"^nvidia h800 pcie\b", re.I), "H800-PCIe"),
    (re.compile(r"^nvidia h20\b", re.I), "H20"),
]

# Ascend: "Ascend910B3", "910B3", "910B3-Ascend-V1" (npu-exporter), "Ascend910", "310P3" …
_ASCEND = re.compile(r"^(?:ascend[ -]?)?(910|310)([a-z]*)(\d*)(?:-ascend-v\d+)?$", re.I)


def _ascend(name: str) -> str | None:
    match = _ASCEND.match(name)
    if not match:
        return None
    chip, kind, variant = match.group(1), match.group(2).casefold(), match.group(3)
    if chip == "310":
        return "Ascend-310P" if kind == "p" else None
    if kind == "b":
        return "Ascend-910B3" if variant == "3" else "Ascend-910B"
    if kind == "c":
        return "Ascend-910C"
    if kind in ("", "a", "awn", "proa", "prob", "premiuma"):
        return "Ascend-910A"
    return None


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class ModelNames:
    """Maps driver names to catalog names; `extra` (from the config) wins over the built-ins."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self._table = {_key(k): v for k, v in BUILTIN.items()}
        self._table.update({_key(k): v for k, v in (extra or {}).items()})
        self._warned: set[str] = set()

    def known(self, driver_name: str) -> str | None:
        """The catalog name for `driver_name`, or None when no table entry or pattern matches."""
        name = " ".join(driver_name.split())
        found = self._table.get(_key(name))
        if found:
            return found
        for pattern, catalog in _NVIDIA_PATTERNS:
            if pattern.match(name):
                return catalog
        return _ascend(name)

    def catalog_name(self, driver_name: str) -> str:
        """The catalog name for `driver_name`, or `driver_name` itself (stripped) if unknown.

        An unknown name is logged once, with the ``[models]`` entry that would map it.
        """
        name = " ".join(driver_name.split())
        if not name:
            return "unknown"
        found = self.known(name)
        if found:
            return found
        if name not in self._warned:
            self._warned.add(name)
            log.warning(
                "GPU model not in the agent's table: sent as is, the server keeps its usage unrated",
                extra={"driver_name": name, "fix": f'[models] "{name}" = "<catalog name>" in agent.toml'},
            )
        return name
