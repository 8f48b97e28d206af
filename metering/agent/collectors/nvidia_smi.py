"""``nvidia-smi --query-gpu=uuid,name,utilization.gpu,memory.used --format=csv,noheader,nounits``.

One line per GPU: ``GPU-…, NVIDIA H100 80GB HBM3, 87, 40211``. Utilisation may read
``[N/A]`` or ``[Not Supported]`` (then unknown); a line that is not four fields is skipped.
"""

from __future__ import annotations

import csv
import logging
import subprocess
from collections.abc import Callable, Sequence

from metering.agent.collectors.base import GpuSample

log = logging.getLogger("kashi.agent.collectors.nvidia_smi")

COMMAND = (
    "nvidia-smi",
    "--query-gpu=uuid,name,utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
)


def parse(text: str, origin: str = "nvidia-smi") -> list[GpuSample]:
    samples = []
    for number, row in enumerate(csv.reader(text.splitlines(), skipinitialspace=True), 1):
        if not row or not "".join(row).strip():
            continue
        fields = [f.strip() for f in row]
        if len(fields) != 4 or not fields[0].startswith(("GPU-", "MIG-")) or not fields[1]:
            log.warning(
                "skipped an unparsable nvidia-smi line",
                extra={"origin": origin, "line_number": number, "line": ",".join(row)[:200]},
            )
            continue
        try:
            utilization: float | None = float(fields[2]) / 100.0
        except ValueError:
            utilization = None
        samples.append(GpuSample(fields[0], len(samples), fields[1], utilization))
    return samples


def run_command(command: Sequence[str], timeout: float = 10.0) -> str:
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=timeout).stdout


class NvidiaSmiCollector:
    name = "nvidia-smi"

    def __init__(self, command: Sequence[str] = COMMAND, run: Callable[[Sequence[str]], str] = run_command):
        self.command = tuple(command)
        self._run = run

    def collect(self) -> list[GpuSample]:
        return parse(self._run(self.command), self.command[0])
