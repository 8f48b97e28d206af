"""NVML through nvidia-ml-py (module ``pynvml``), when it is importable.

The agent works without it: `available()` says whether it can be used, and the config's
``collector = "auto"`` falls back to the DCGM exporter or nvidia-smi.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from metering.agent.collectors.base import GpuSample

log = logging.getLogger("kashi.agent.collectors.nvml")


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def available() -> bool:
    """True when pynvml imports and finds a driver (``collector = "auto"`` then picks NVML)."""
    module = _load()
    if module is None:
        return False
    try:
        module.nvmlInit()
        module.nvmlShutdown()
    except module.NVMLError:
        return False
    return True


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NvmlCollector:
    name = "nvml"

    def __init__(self, module: ModuleType | None = None) -> None:
        self._nvml = module or _load()
        if self._nvml is None:
            raise RuntimeError("pynvml is not installed: pip install nvidia-ml-py, or use another collector")
        self._ready = False

    def collect(self) -> list[GpuSample]:
        nvml = self._nvml
        if not self._ready:
            nvml.nvmlInit()
            self._ready = True
        samples = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            try:
                utilization: float | None = nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0
            except nvml.NVMLError as error:
                log.warning("NVML utilisation unavailable", extra={"gpu_index": index, "error": str(error)})
                utilization = None
            samples.append(
                GpuSample(
                    _text(nvml.nvmlDeviceGetUUID(handle)),
                    index,
                    _text(nvml.nvmlDeviceGetName(handle)),
                    utilization,
                )
            )
        return samples

    def close(self) -> None:
        if self._ready:
            self._nvml.nvmlShutdown()
            self._ready = False
