"""Slurm accounting as an allocation source: ``sacct -P`` of the jobs running on this node.

Slurm bills what was allocated: a job whose ``AllocTRES`` holds ``gres/gpu=N`` (or typed
``gres/gpu:a100=N``) holds N GPUs, split evenly over its nodes, whether it uses them or not.
Job steps (``123.batch``, ``123.extern``, ``123.0``) repeat their job's AllocTRES and are
skipped whatever the command. sacct does not say which card a job got: with ``scontrol = true``
the indices come from ``scontrol show job -d`` (``GRES=gpu:4(IDX:0-3)``); otherwise the node's
GPUs are dealt to running jobs in a stable order (job start, then job id; GPUs by index); a GPU
the collector does not see gets the synthetic id ``{node}-slurm-gpu{i}``. The command's
delimiter, ``--noheader`` and ``--format`` order are read from it; output that cannot be read
(not ``-P``, ``--noheader`` without ``--format``) is refused at start. When sacct has not
answered for ``2 × poll_s``, the allocation is stale: nothing is billed on it, and it is counted.
Accounts map to tenants by a table; an unmapped
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
    return [
        "sacct",
        "-a",
        "-X",
        "-P",
        "--state=RUNNING",
        "-S",
        "now",
        "-E",
        "now",
        f"--format={FORMAT}",
        f"--nodelist={node}",
    ]


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


def sacct_layout(command: Sequence[str]) -> tuple[str, tuple[str, ...] | None, bool]:
    """The delimiter, the ``--format`` columns (None when absent) and whether a header is printed,
    from a sacct command line. Raises ValueError for output the agent cannot read (not parsable)."""
    args = list(command)
    delimiter, columns, header, parsable = "|", None, True, False
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if arg in ("-P", "-p", "--parsable", "--parsable2") or (
            arg.startswith("-") and not arg.startswith("--") and ("P" in arg[1:] or "p" in arg[1:])
        ):
            parsable = True
        if arg.startswith("--delimiter="):
            delimiter = arg.split("=", 1)[1]
        elif arg == "--delimiter":
            delimiter = value
        if arg.startswith(("--format=", "-o=")):
            columns = tuple(c.split("%")[0] for c in arg.split("=", 1)[1].split(","))
        elif arg in ("--format", "-o"):
            columns = tuple(c.split("%")[0] for c in value.split(","))
        if arg in ("-n", "--noheader") or (arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:]):
            header = False
    if not parsable:
        raise ValueError(
            "sacct_command must print parsable output (-P or --parsable2): fixed-width columns "
            "cut job ids and TRES strings"
        )
    if not header and columns is None:
        raise ValueError("sacct_command has --noheader but no --format: the agent cannot tell the columns apart")
    if columns is not None:
        missing = {"JobID", "Account", "State", "NodeList", "AllocTRES"} - {c.strip() for c in columns}
        if missing:
            raise ValueError(f"sacct_command --format lacks {sorted(missing)}")
    return delimiter, columns, header


def is_step(job_id: str) -> bool:
    """``123.batch``, ``123.extern``, ``123.0``, ``77_3.interactive``: a step of a job, not a job."""
    return "." in job_id


def parse_sacct(
    text: str, delimiter: str = "|", columns: Sequence[str] | None = None, header: bool = True
) -> list[Job]:
    """Jobs of ``sacct -P`` output (steps skipped: they repeat their job's AllocTRES); bad lines
    are logged and skipped. Columns come from the header line, else from `columns`."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if header and not (columns is not None and lines[0].split(delimiter)[0] != "JobID"):
        names = [c.strip() for c in lines[0].split(delimiter)]
        body = list(enumerate(lines[1:], 2))
    else:
        names, body = [c.strip() for c in (columns or ())], list(enumerate(lines, 1))
    while names and names[-1] == "":  # "-p" ends every line with the delimiter
        names.pop()
    needed = {"JobID", "Account", "State", "NodeList", "AllocTRES"}
    if not needed <= set(names):
        raise ValueError(f"sacct output lacks columns {sorted(needed - set(names))}")
    jobs = []
    for number, line in body:
        fields = line.split(delimiter)
        if len(fields) == len(names) + 1 and fields[-1] == "":
            fields.pop()
        if len(fields) != len(names):
            log.warning("skipped a sacct line", extra={"line_number": number, "line": line[:200]})
            continue
        row = dict(zip(names, fields, strict=True))
        if is_step(row["JobID"]):
            continue
        try:
            nodes = tuple(expand_hostlist(row["NodeList"]))
        except ValueError:
            log.warning("skipped a sacct line with a bad node list", extra={"line_number": number})
            continue
        jobs.append(
            Job(row["JobID"], row["Account"], row["State"], row.get("Start", ""), nodes, gpu_count(row["AllocTRES"]))
        )
    return jobs


def gres_indices(text: str, node: str) -> list[int] | None:
    """GPU indices `node` gives the job in ``scontrol show job -d`` (``GRES=gpu:h100:2(IDX:0,3)``)."""
    for line in text.splitlines():
        match = re.search(r"Nodes=(\S+).*?GRES=(\S+)", line)
        if not match:
            continue
        try:
            hosts = expand_hostlist(match.group(1))
        except ValueError:
            continue
        if node not in hosts:
            continue
        found: list[int] = []
        for spec in re.findall(r"IDX:([0-9,\-]+)", match.group(2)):
            for item in spec.split(","):
                lo, _, hi = item.partition("-")
                if lo.isdigit():
                    found.extend(range(int(lo), int(hi or lo) + 1))
        return found
    return None


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
        scontrol: bool = False,
        on_error: Callable[[str], None] | None = None,
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
        self.delimiter, self.columns, self.header = sacct_layout(self.command)  # refuses at start, clearly
        self._run, self._poll_s, self._monotonic = run, poll_s, monotonic
        self._scontrol = scontrol
        self._on_error = on_error or (lambda reason: None)
        self._jobs: list[Job] = []
        self._indices: dict[str, list[int]] = {}
        self._polled_at: float | None = None
        self._tried_at: float | None = None

    def _refresh(self) -> float:
        now = self._monotonic()
        if self._tried_at is not None and now - self._tried_at < self._poll_s:
            return now
        self._tried_at = now
        try:
            self._jobs = parse_sacct(self._run(self.command), self.delimiter, self.columns, self.header)
            self._polled_at = now
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            self._on_error("sacct")
            log.error("sacct failed, keeping the last allocation until it is stale", extra={"error": str(error)})
            return now
        self._indices = {}
        if self._scontrol:
            for job in self._jobs:
                if job.gpus and job.state.startswith("RUNNING") and self.node in job.nodes:
                    self._indices[job.job_id] = self._job_indices(job.job_id)
        return now

    def _job_indices(self, job_id: str) -> list[int]:
        try:
            found = gres_indices(self._run(["scontrol", "show", "job", "-d", job_id]), self.node)
        except (OSError, subprocess.SubprocessError) as error:
            log.info("scontrol show job -d unavailable; GPUs dealt in order", extra={"error": str(error)})
            self._scontrol = False
            return []
        return found or []

    def holders(self, samples: list[GpuSample]) -> dict[str, Holder]:
        tried = self._tried_at
        now = self._refresh()
        if self._polled_at is None or now - self._polled_at > 2 * self._poll_s:
            if (self._jobs or self._polled_at is not None) and self._tried_at != tried:  # once per poll
                self._on_error("stale")
                log.error(
                    "Slurm allocation is stale (no successful sacct for 2 x poll_seconds): nothing is "
                    "billed on it until sacct answers",
                    extra={"poll_seconds": self._poll_s},
                )
            return {}
        return allocate(self.node, self._jobs, samples, self.accounts, self.unmapped, self._indices)


def allocate(
    node: str,
    jobs: list[Job],
    samples: list[GpuSample],
    accounts: Mapping[str, Holder],
    unmapped: str,
    indices: Mapping[str, list[int]] | None = None,
) -> dict[str, Holder]:
    """Deal the node's GPUs to its running jobs (pure): a job whose GPU indices scontrol gave gets
    those cards; the others are dealt the remaining cards in a stable order (start, job id)."""
    ordered = sorted(samples, key=lambda s: (s.index is None, s.index or 0, s.uuid))
    by_index = {s.index: s.uuid for s in ordered if s.index is not None}
    indices = indices or {}
    out: dict[str, Holder] = {}
    used: set[str] = set()
    running = [j for j in jobs if j.state.startswith("RUNNING") and node in j.nodes and j.gpus > 0]
    pending: list[tuple[Job, Holder | None, int]] = []
    for job in sorted(running, key=lambda j: (j.start, j.job_id)):
        holder = accounts.get(job.account)
        if holder is None and unmapped != "ignore":
            holder = Holder(job.account)
        share, extra = divmod(job.gpus, len(job.nodes))
        count = share + (1 if job.nodes.index(node) < extra else 0)
        known = [by_index[i] for i in indices.get(job.job_id, []) if i in by_index and by_index[i] not in used]
        for gpu in known[:count]:
            used.add(gpu)
            if holder is not None:  # an ignored account still occupies its cards
                out[gpu] = holder
        pending.append((job, holder, count - len(known[:count])))
    free = [s.uuid for s in ordered if s.uuid not in used]
    taken = 0
    for _job, holder, count in pending:
        for _ in range(count):
            gpu = free[taken] if taken < len(free) else f"{node}-slurm-gpu{len(used) + taken}"
            if holder is not None:
                out[gpu] = holder
            taken += 1
    return out
