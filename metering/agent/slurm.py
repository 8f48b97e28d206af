"""Slurm accounting as an allocation source: ``sacct -P`` of the jobs running on this node.

Slurm bills what was allocated: a job whose ``AllocTRES`` holds ``gres/gpu=N`` (or typed
``gres/gpu:a100=N``) holds N GPUs, split evenly over its nodes, whether it uses them or not.
sacct does not say which card a job got, so the node's GPUs are dealt to running jobs in a
stable order (job start, then job id; GPUs by index); a GPU the collector does not see gets
the synthetic id ``{node}-slurm-gpu{i}``. Accounts map to tenants by a table; an unmapped
account bills to the account's own name (``unmapped = "account"``) or not at all ("ignore").
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from metering.agent.collectors.base import GpuSample
from metering.agent.events import Holder

log = logging.getLogger("kashi.agent.slurm")

FORMAT = "JobID,Account,State,Start,End,NodeList,AllocTRES"


def command_for(node: str) -> list[str]:
    return ["sacct", "-a", "-X", "-P", "--state=RUNNING", "-S", "now", "-E", "now",
            f"--format={FORMAT}", f"--nodelist={node}"]  # fmt: skip


@dataclass(frozen=True)
class Job:
    job_id: str
    account: str
    state: str
    start: str
    nodes: tuple[str, ...]
    gpus: int


def expand_hostlist(text: str) -> list[str]:
    """``gpu[01-03,07],login1`` → ``gpu01 gpu02 gpu03 gpu07 login1``."""
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", text):
        match = re.fullmatch(r"(.*?)\[([^\]]*)\](.*)", part)
        if not match:
            hosts.append(part)
            continue
        prefix, ranges, suffix = match.groups()
        for item in ranges.split(","):
            lo, _, hi = item.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise ValueError(f"bad host range {item!r}")
            for n in range(int(lo), int(hi or lo) + 1):
                hosts.append(f"{prefix}{str(n).zfill(len(lo))}{suffix}")
    return hosts


def gpu_count(alloc_tres: str) -> int:
    """GPUs in an AllocTRES string: ``gres/gpu=N``, else the sum of typed ``gres/gpu:T=N``."""
    plain, typed = None, 0
    for item in alloc_tres.split(","):
        name, _, value = item.partition("=")
        if not value.isdigit():
            continue
        if name == "gres/gpu":
            plain = int(value)
        elif name.startswith("gres/gpu:"):
            typed += int(value)
    return plain if plain is not None else typed


def parse_sacct(text: str) -> list[Job]:
    """Jobs of ``sacct -P`` output with a header line; bad lines are logged and skipped."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].split("|")
    needed = {"JobID", "Account", "State", "NodeList", "AllocTRES"}
    if not needed <= set(header):
        raise ValueError(f"sacct output lacks columns {sorted(needed - set(header))}")
    jobs = []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split("|")
        if len(fields) != len(header):
            log.warning("skipped a sacct line", extra={"line_number": number, "line": line[:200]})
            continue
        row = dict(zip(header, fields, strict=True))
        try:
            nodes = tuple(expand_hostlist(row["NodeList"]))
        except ValueError:
            log.warning("skipped a sacct line with a bad node list", extra={"line_number": number})
            continue
        jobs.append(Job(row["JobID"], row["Account"], row["State"], row.get("Start", ""), nodes,
                        gpu_count(row["AllocTRES"])))  # fmt: skip
    return jobs


def run_command(command: Sequence[str], timeout: float = 30.0) -> str:
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=timeout).stdout


class SlurmAccounting:
    """Holders on `node` from running Slurm jobs, polled every `poll_s` seconds."""

    def __init__(
        self,
        node: str,
        accounts: Mapping[str, object],
        *,
        unmapped: str = "account",
        command: Sequence[str] | None = None,
        run: Callable[[Sequence[str]], str] = run_command,
        poll_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if unmapped not in ("account", "ignore"):
            raise ValueError('unmapped must be "account" or "ignore"')
        self.node = node
        self.accounts: dict[str, Holder] = {}
        for account, value in accounts.items():
            if isinstance(value, str):
                self.accounts[account] = Holder(value)
            elif isinstance(value, Mapping) and value.get("tenant"):
                self.accounts[account] = Holder(str(value["tenant"]), value.get("contract_id"))
        self.unmapped = unmapped
        self.command = list(command) if command else command_for(node)
        self._run, self._poll_s, self._monotonic = run, poll_s, monotonic
        self._jobs: list[Job] = []
        self._polled_at: float | None = None

    def _refresh(self) -> None:
        now = self._monotonic()
        if self._polled_at is not None and now - self._polled_at < self._poll_s:
            return
        try:
            self._jobs = parse_sacct(self._run(self.command))
            self._polled_at = now
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            log.error("sacct failed, keeping the last allocation", extra={"error": str(error)})

    def holders(self, samples: list[GpuSample]) -> dict[str, Holder]:
        self._refresh()
        return allocate(self.node, self._jobs, samples, self.accounts, self.unmapped)


def allocate(
    node: str, jobs: list[Job], samples: list[GpuSample], accounts: Mapping[str, Holder], unmapped: str
) -> dict[str, Holder]:
    """Deal the node's GPUs to its running jobs in a stable order (pure)."""
    slots = [s.uuid for s in sorted(samples, key=lambda s: (s.index is None, s.index or 0, s.uuid))]
    out: dict[str, Holder] = {}
    taken = 0
    running = [j for j in jobs if j.state.startswith("RUNNING") and node in j.nodes and j.gpus > 0]
    for job in sorted(running, key=lambda j: (j.start, j.job_id)):
        holder = accounts.get(job.account)
        if holder is None and unmapped != "ignore":
            holder = Holder(job.account)
        share, extra = divmod(job.gpus, len(job.nodes))
        for _ in range(share + (1 if job.nodes.index(node) < extra else 0)):
            gpu = slots[taken] if taken < len(slots) else f"{node}-slurm-gpu{taken}"
            if holder is not None:  # an ignored account still occupies its cards
                out[gpu] = holder
            taken += 1
    return out
