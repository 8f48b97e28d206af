"""Driver model names → Kashi catalog names (SPEC §2 GPU catalog).

`nvidia-smi`, NVML and DCGM report marketing strings ("NVIDIA H100 80GB HBM3"); the catalog
prices "H100-SXM". Operators extend or override the table with ``[models]`` in agent.toml.
An unknown name is reported as is, never dropped: the server keeps it as unrated usage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

BUILTIN: dict[str, str] = {
    "NVIDIA H100 80GB HBM3": "H100-SXM",
    "NVIDIA H100 SXM5 80GB": "H100-SXM",
    "NVIDIA H100 PCIe": "H100-PCIe",
    "NVIDIA H100 NVL": "H100-NVL",
    "NVIDIA H800": "H800",
    "NVIDIA H800 80GB HBM3": "H800",
    "NVIDIA H800 PCIe": "H800",
    "NVIDIA H20": "H20",
    "NVIDIA H200": "H200",
    "NVIDIA H200 NVL": "H200",
    "NVIDIA B200": "B200",
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
    "NVIDIA A30": "A30",
    "NVIDIA A40": "A40",
    "NVIDIA GeForce RTX 4090": "RTX-4090",
    "NVIDIA GeForce RTX 4090 D": "RTX-4090D",
    "NVIDIA GeForce RTX 3090": "RTX-3090",
    "NVIDIA GeForce RTX 5090": "RTX-5090",
    "Tesla V100-SXM2-32GB": "V100",
    "Tesla V100-PCIE-32GB": "V100",
    "Tesla T4": "T4",
}

# Ascend chips report "Ascend910B3", "910B4", "Ascend910", "Ascend310P3"…
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(ascend)?[ -]?910b\d*$", re.I), "Ascend-910B"),
    (re.compile(r"^(ascend)?[ -]?910c\d*$", re.I), "Ascend-910C"),
    (re.compile(r"^(ascend)?[ -]?910(a|pro[ab]?|premiuma)?\d*$", re.I), "Ascend-910"),
    (re.compile(r"^(ascend)?[ -]?310p\d*$", re.I), "Ascend-310P"),
]


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class ModelNames:
    """Maps driver names to catalog names; `extra` (from the config) wins over the built-ins."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self._table = {_key(k): v for k, v in BUILTIN.items()}
        self._table.update({_key(k): v for k, v in (extra or {}).items()})

    def catalog_name(self, driver_name: str) -> str:
        """The catalog name for `driver_name`, or `driver_name` itself (stripped) if unknown."""
        name = " ".join(driver_name.split())
        if not name:
            return "unknown"
        found = self._table.get(_key(name))
        if found:
            return found
        for pattern, catalog in _PATTERNS:
            if pattern.match(name):
                return catalog
        return name
