"""``npu-smi info``: the Ascend driver's table, for nodes without the npu-exporter.

Each NPU prints a card row (``| 0     910B3 | OK | 102.8  55  0 / 0 |``: id, name, health,
power, temperature) followed by one row per chip (``| 0 | 0000:C1:00.0 | 0  0 / 0  3338 / 65536 |``:
chip, bus id, AI-core %, memory, HBM). 310P cards list several chips under one card. The table
has no die id, so a chip's id is ``{node}-npu{card}-chip{chip}`` (stable for a node). A health
other than ``OK`` or ``Warning`` marks the chip down.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Sequence

from metering.agent.collectors.base import GpuSample

log = logging.getLogger("kashi.agent.collectors.npu_smi")

COMMAND = ("npu-smi", "info")
_BUS = re.compile(r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]$")
UP = ("ok", "warning")


def parse(text: str, origin: str = "npu-smi", node: str = "node") -> list[GpuSample]:
    """Chip samples of ``npu-smi info`` output."""
    samples: list[GpuSample] = []
    card: tuple[str, str, str] | None = None  # id, name, health
    for line in text.splitlines():
        if "Process id" in line:
            break
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0]:
            continue
        first = cells[0].split()
        if not first[0].isdigit():
            continue
        if _BUS.match(cells[1]):
            if card is None:
                continue
            aicore = cells[2].split()[0] if cells[2].split() else ""
            utilization = float(aicore) / 100.0 if aicore.replace(".", "", 1).isdigit() else None
            card_id, name, health = card
            down = None if health.casefold() in UP else f"health {health} (npu-smi)"
            samples.append(
                GpuSample(f"{node}-npu{card_id}-chip{first[0]}", len(samples), name, utilization, None, {}, down)
            )
        elif len(first) >= 2 and not first[1].isdigit():
            card = (first[0], first[1], cells[1])
    return samples


def run_command(command: Sequence[str], timeout: float = 10.0) -> str:
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=timeout).stdout


class NpuSmiCollector:
    name = "npu-smi"

    def __init__(
        self, command: Sequence[str] = COMMAND, run: Callable[[Sequence[str]], str] = run_command, node: str = "node"
    ) -> None:
        self.command = tuple(command)
        self.node = node
        self._run = run

    def collect(self) -> list[GpuSample]:
        return parse(self._run(self.command), self.command[0], self.node)
