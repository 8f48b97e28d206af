"""``nvidia-smi`` in the shapes real nodes produce; the shape is recognised from the text.

* ``-q -x`` XML (DTD v11, v12 …): ``<gpu>`` with ``<uuid>``, ``<product_name>``, ``<minor_number>``,
  ``<utilization><gpu_util>87 %``; a card with ``<mig_mode><current_mig>Enabled`` lists its
  ``<mig_device>`` instances (no per-instance utilisation: the card's is ``N/A``).
* ``--query-gpu=… --format=csv`` in any field order, with or without ``noheader``/``nounits``:
  with a header the columns are read from it (``utilization.gpu [%]``, ``memory.used [MiB]``);
  without one, from the ``--query-gpu=`` of the command that produced it, else the old
  ``uuid,name,utilization.gpu,memory.used``. Values may carry units (``38 %``) or read
  ``[N/A]``/``[Not Supported]`` (then unknown).
* ``-q`` text (``GPU UUID : GPU-…``, ``Product Name``, ``Minor Number``, ``Utilization / Gpu : 0 %``,
  ``MIG Mode / Current``).
* The default table (``nvidia-smi`` with no options) as a last resort: index, name and GPU-Util;
  it prints no UUID, so the id is ``{hostname}-gpu{index}`` (use XML or CSV in production).

The default command is ``--query-gpu=index,uuid,name,utilization.gpu --format=csv``: cheap
enough to run every few seconds on an 8-card node (``-q -x`` takes seconds there), with a header
so a changed field list is still read right. Use ``-q -x`` where the MIG layout matters.
"""

from __future__ import annotations

import csv
import logging
import re
import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from metering.agent.collectors.base import GpuSample

log = logging.getLogger("kashi.agent.collectors.nvidia_smi")

COMMAND = ("nvidia-smi", "--query-gpu=index,uuid,name,utilization.gpu", "--format=csv")
LEGACY_FIELDS = ("uuid", "name", "utilization.gpu", "memory.used")


def _percent(text: str | None) -> float | None:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*", text or "")
    return float(match.group(1)) / 100.0 if match else None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def parse_xml(text: str, origin: str = "nvidia-smi") -> list[GpuSample]:
    """Samples of ``nvidia-smi -q -x``; raises ValueError when the XML is not nvidia-smi's."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as error:
        raise ValueError(f"{origin}: not valid XML: {error}") from None
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"{origin}: XML root is <{root.tag}>, not <nvidia_smi_log>")
    samples = []
    for position, gpu in enumerate(root.iter("gpu")):
        uuid = (gpu.findtext("uuid") or "").strip()
        name = (gpu.findtext("product_name") or "").strip()
        if not uuid or not name:
            log.warning(
                "nvidia-smi XML gpu without uuid or name skipped", extra={"origin": origin, "id": gpu.get("id")}
            )
            continue
        index = _int(gpu.findtext("minor_number"))
        mig = (gpu.findtext("mig_mode/current_mig") or "").strip().casefold() == "enabled"
        instances = len(gpu.findall("mig_devices/mig_device")) if mig else 0
        down = None
        if (gpu.findtext("gpu_reset_status/reset_required") or "").strip().casefold() == "yes":
            down = "reset required (nvidia-smi)"
        samples.append(
            GpuSample(
                uuid,
                index if index is not None else position,
                name,
                _percent(gpu.findtext("utilization/gpu_util")),
                None,
                {"mig_instances": str(instances)} if instances else {},
                down,
            )
        )
    return samples


def query_fields(command: Sequence[str]) -> tuple[str, ...] | None:
    """The ``--query-gpu=`` fields of a command line, or None."""
    for i, arg in enumerate(command):
        if arg.startswith("--query-gpu="):
            return tuple(f.strip() for f in arg.split("=", 1)[1].split(","))
        if arg == "--query-gpu" and i + 1 < len(command):
            return tuple(f.strip() for f in command[i + 1].split(","))
    return None


def _column(header: str) -> str:
    return header.split("[", 1)[0].strip().casefold()  # "utilization.gpu [%]" → "utilization.gpu"


def parse_csv(text: str, origin: str = "nvidia-smi", fields: Sequence[str] | None = None) -> list[GpuSample]:
    """Samples of ``--query-gpu`` CSV; the columns come from its header, else from `fields`."""
    rows = [r for r in csv.reader(text.splitlines(), skipinitialspace=True) if r and "".join(r).strip()]
    if not rows:
        return []
    first = [_column(f) for f in rows[0]]
    if "uuid" in first or "name" in first or "gpu_uuid" in first:
        columns, body, start = first, rows[1:], 2
    else:
        columns, body, start = [f.casefold() for f in (fields or LEGACY_FIELDS)], rows, 1
    for needed in ("uuid", "name"):
        if needed not in columns:
            raise ValueError(f"{origin}: the query has no {needed!r} field (query uuid and name, in any order)")
    samples = []
    for number, row in enumerate(body, start):
        values = dict(zip(columns, (v.strip() for v in row), strict=False))
        if len(row) != len(columns) or not values["uuid"].startswith(("GPU-", "MIG-")) or not values["name"]:
            log.warning(
                "skipped an unparsable nvidia-smi line",
                extra={"origin": origin, "line_number": number, "line": ",".join(row)[:200]},
            )
            continue
        index = _int(values.get("index"))
        samples.append(
            GpuSample(
                values["uuid"],
                index if index is not None else len(samples),
                values["name"],
                _percent(values.get("utilization.gpu")),
            )
        )
    return samples


def parse_text(text: str, origin: str = "nvidia-smi") -> list[GpuSample]:
    """Samples of ``nvidia-smi -q`` (indented ``Key : value`` blocks, one ``GPU <bus id>`` per card)."""
    samples: list[GpuSample] = []
    gpu: dict[str, str] = {}
    section = ""

    def flush() -> None:
        if gpu.get("GPU UUID") and gpu.get("Product Name"):
            index = _int(gpu.get("Minor Number"))
            reset = gpu.get("GPU Reset Status/Reset Required", "").casefold() == "yes"
            samples.append(
                GpuSample(
                    gpu["GPU UUID"],
                    index if index is not None else len(samples),
                    gpu["Product Name"],
                    _percent(gpu.get("Utilization/Gpu")),
                    None,
                    {},
                    "reset required (nvidia-smi)" if reset else None,
                )
            )
        elif gpu:
            log.warning("nvidia-smi -q block without uuid or name skipped", extra={"origin": origin})

    for line in text.splitlines():
        if line.startswith("GPU ") and ":" not in line.split(None, 1)[0]:
            flush()
            gpu, section = {"bus": line[4:].strip()}, ""
            continue
        if not gpu or not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        key, sep, value = line.strip().partition(":")
        key = key.strip()
        if depth == 4:
            section = key
            if sep:
                gpu[key] = value.strip()
        elif depth == 8 and sep and section in ("Utilization", "MIG Mode", "GPU Reset Status"):
            gpu[f"{section}/{key}"] = value.strip()
    flush()
    return samples


_TABLE_ROW = re.compile(r"^\|\s+(\d+)\s+(.+?)\s+(On|Off)\s+\|")
_TABLE_UTIL = re.compile(r"\|\s+(\d+)%\s+\S+\s+\|\s*$")


def parse_table(text: str, origin: str = "nvidia-smi", hostname: str | None = None) -> list[GpuSample]:
    """Samples of the default ``nvidia-smi`` table (no UUIDs: ids are ``{hostname}-gpu{index}``)."""
    host = hostname or socket.gethostname()
    lines = text.splitlines()
    samples = []
    for i, line in enumerate(lines):
        if "Processes:" in line:
            break
        match = _TABLE_ROW.match(line)
        if not match:
            continue
        index, name = int(match.group(1)), match.group(2).strip()
        util = _TABLE_UTIL.search(lines[i + 1]) if i + 1 < len(lines) else None
        samples.append(
            GpuSample(f"{host}-gpu{index}", index, name, float(util.group(1)) / 100.0 if util else None, host)
        )
    return samples


def parse(text: str, origin: str = "nvidia-smi", fields: Sequence[str] | None = None) -> list[GpuSample]:
    """Samples of any nvidia-smi output shape (XML, CSV, default table), recognised from the text."""
    stripped = text.lstrip()
    if stripped.startswith(("<?xml", "<!DOCTYPE", "<nvidia_smi_log")):
        return parse_xml(text, origin)
    if stripped.startswith("==============NVSMI LOG"):
        return parse_text(text, origin)
    if stripped.startswith("+--") or "NVIDIA-SMI" in stripped[:300]:
        return parse_table(text, origin)
    return parse_csv(text, origin, fields)


def run_command(command: Sequence[str], timeout: float = 10.0) -> str:
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=timeout).stdout


class NvidiaSmiCollector:
    name = "nvidia-smi"

    def __init__(self, command: Sequence[str] = COMMAND, run: Callable[[Sequence[str]], str] = run_command):
        self.command = tuple(command)
        self.fields = query_fields(self.command)
        self._run = run
        self._warned_table = False

    def collect(self) -> list[GpuSample]:
        samples = parse(self._run(self.command), self.command[0], self.fields)
        if samples and samples[0].hostname and not self._warned_table:
            self._warned_table = True
            log.warning(
                "nvidia-smi default table read: it has no UUIDs, so ids are host and index; "
                "set [gpu] command to the default --query-gpu CSV or -q -x",
                extra={"command": list(self.command)},
            )
        return samples
