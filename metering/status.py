"""From `gpu.status` records to what they newly contribute to the fleet's rollups (SPEC §15) [pure].

The union rule of usage holds for status too: each GPU-second has one state, the one of the first
persisted `gpu.status` that covers it (lowest log sequence); a resent or overlapping report adds
nothing. A GPU's reported time is kept as maximal runs of one state (`Stretch`), so a GPU that
reports every minute in the same state keeps one row, not one per minute, and the runs are the
same whatever batches or replay chunks the reports arrived in.

Allocated seconds come from `gpu.usage` (its coverage, `metering.rollups.claim`); "lit allocated"
seconds — allocated and reported in a state other than down — are what SLA availability counts.
Whichever of the two arrives second adds their intersection (`lit_overlap`), so it is counted once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from metering.events import UsageRecord
from metering.intervals import HOUR, gaps, split

DOWN = "down"


class Stretch(NamedTuple):
    """Seconds ``[start, end)`` of a GPU reported in `state` (idle | allocated | down)."""

    start: int
    end: int
    state: str


class StatusPiece(NamedTuple):
    """Seconds ``[start, end)`` of `gpu` newly reported in `state` by the event at `seq`."""

    seq: int
    gpu: str
    node: str
    gpu_model: str
    start: int
    end: int
    state: str
    utilization: Decimal | None = None
    """The report's `utilization`, if it gave one."""


def claim_status(records: Iterable[tuple[int, UsageRecord]], covered: Mapping[str, list[Stretch]]) -> list[StatusPiece]:
    """What each ``(seq, status record)`` newly reports, in seq order: the gaps it fills in the
    GPU's reported time (`covered`: at least every stretch overlapping the records; not modified)."""
    known = {gpu: _Reported(spans) for gpu, spans in covered.items()}
    pieces: list[StatusPiece] = []
    for seq, rec in sorted(records, key=lambda pair: pair[0]):
        reported = known.get(rec.gpu)
        if reported is None:
            reported = known[rec.gpu] = _Reported(())
        for start, end in gaps((rec.start, rec.end), reported.overlapping(rec.start, rec.end)):
            pieces.append(
                StatusPiece(
                    seq, rec.gpu, node_of(rec), rec.gpu_model, start, end, rec.data["state"], utilization_of(rec)
                )
            )
            reported.add(start, end)
    return pieces


class _Reported:
    """One GPU's reported time as sorted, disjoint, merged ``[start, end)`` (states ignored), so a GPU
    reporting every minute keeps one interval and a lookup is a bisection."""

    __slots__ = ("starts", "ends")

    def __init__(self, spans: Iterable[Stretch]):
        self.starts: list[int] = []
        self.ends: list[int] = []
        for s in sorted(spans):
            self.add(s.start, s.end)

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        first = bisect_right(self.ends, start)
        last = bisect_left(self.starts, end, lo=first)
        return list(zip(self.starts[first:last], self.ends[first:last], strict=True))

    def add(self, start: int, end: int) -> None:
        """Add ``[start, end)``, which overlaps nothing already held, joining the neighbours it touches."""
        at = bisect_left(self.starts, start)
        if at > 0 and self.ends[at - 1] == start:
            at -= 1
            start = self.starts[at]
            del self.starts[at], self.ends[at]
        if at < len(self.starts) and self.starts[at] == end:
            end = self.ends[at]
            del self.starts[at], self.ends[at]
        self.starts.insert(at, start)
        self.ends.insert(at, end)


def node_of(rec: UsageRecord) -> str:
    """The node a record names (``""`` when it names none)."""
    return rec.data.get("node") or ""


def merge_runs(stretches: Iterable[Stretch]) -> list[Stretch]:
    """Disjoint stretches joined where one ends as the next of the same state begins: maximal runs."""
    merged: list[Stretch] = []
    for s in sorted(stretches):
        if merged and merged[-1].end == s.start and merged[-1].state == s.state:
            merged[-1] = Stretch(merged[-1].start, s.end, s.state)
        else:
            merged.append(s)
    return merged


def lit_overlap(start: int, end: int, stretches: Iterable[Stretch]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` reported in a state other than down."""
    return [
        (max(start, s.start), min(end, s.end)) for s in stretches if s.state != DOWN and s.start < end and s.end > start
    ]


class HourTotals(NamedTuple):
    """Seconds of one GPU (or node and model) in one hour."""

    reported: int = 0
    down: int = 0
    allocated: int = 0
    busy: Decimal = Decimal(0)
    """From `gpu.usage`: its utilization × the allocated seconds it newly counted."""
    status_busy: Decimal = Decimal(0)
    """From `gpu.status` reported allocated: its utilization × the seconds it newly reported. The report
    uses it for an hour whose usage carried no utilization at all."""

    def plus(self, other: HourTotals) -> HourTotals:
        return HourTotals(*(a + b for a, b in zip(self, other, strict=True)))


def _add(totals: dict, key: tuple, **seconds) -> None:
    totals[key] = totals.get(key, HourTotals()).plus(HourTotals(**seconds))


def status_hourly(pieces: Iterable[StatusPiece]) -> tuple[dict[tuple, HourTotals], dict[tuple, HourTotals]]:
    """Reported and down seconds per (gpu, hour) and per (node, gpu_model, hour), split at hours."""
    by_gpu: dict[tuple, HourTotals] = {}
    by_node: dict[tuple, HourTotals] = {}
    for p in pieces:
        for hour, seconds in split((p.start, p.end), HOUR):
            down = seconds if p.state == DOWN else 0
            busy = p.utilization * seconds if p.state == "allocated" and p.utilization is not None else Decimal(0)
            _add(by_gpu, (p.gpu, hour), reported=seconds, down=down, status_busy=busy)
            _add(by_node, (p.node, p.gpu_model, hour), reported=seconds, down=down, status_busy=busy)
    return by_gpu, by_node


def utilization_of(rec: UsageRecord) -> Decimal | None:
    value = rec.data.get("utilization")
    return None if value is None else Decimal(value)


def usage_hourly(pieces: Iterable, records: Mapping[int, UsageRecord]) -> tuple[dict, dict, dict]:
    """Allocated and busy seconds of newly counted usage pieces (`metering.rollups.Piece`), per
    (gpu, hour), (node, gpu_model, hour) and (tenant, contract, gpu_model, hour).

    busy = the usage event's `utilization` × the seconds it newly counted (0 without one); node is
    the one the usage event names.
    """
    by_gpu: dict[tuple, HourTotals] = {}
    by_node: dict[tuple, HourTotals] = {}
    by_tenant: dict[tuple, HourTotals] = {}
    for p in pieces:
        rec = records[p.seq]
        util = utilization_of(rec) or Decimal(0)
        for hour, seconds in split((p.start, p.end), HOUR):
            busy = util * seconds
            _add(by_gpu, (p.gpu, hour), allocated=seconds, busy=busy)
            _add(by_node, (node_of(rec), p.gpu_model, hour), allocated=seconds, busy=busy)
            _add(by_tenant, (p.tenant_id, p.contract_id or "", p.gpu_model, hour), allocated=seconds, busy=busy)
    return by_gpu, by_node, by_tenant


def lit_hourly(overlaps: Iterable[tuple[tuple[str, str, str], int, int, int]]) -> dict[tuple, tuple[int, int]]:
    """Lit allocated seconds per (tenant, contract, gpu_model, hour), with the highest seq adding to it.

    overlaps: ``((tenant, contract or "", gpu_model), start, end, seq)`` of intersections found.
    """
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for key, start, end, seq in overlaps:
        for hour, seconds in split((start, end), HOUR):
            t = totals[(*key, hour)]
            t[0] += seconds
            t[1] = max(t[1], seq)
    return {k: (v[0], v[1]) for k, v in totals.items()}


def latest_reports(records: Iterable[tuple[int, UsageRecord]]) -> dict[str, dict]:
    """Per GPU, its registry facts from these records: first start, and the report ending last
    (ties broken by seq) with its node, model, state and reason."""
    found: dict[str, dict] = {}
    for seq, rec in records:
        entry = found.get(rec.gpu)
        if entry is None:
            entry = found[rec.gpu] = {"first": rec.start, "key": (-1, -1)}
        entry["first"] = min(entry["first"], rec.start)
        if (rec.end, seq) > entry["key"]:
            entry.update(
                key=(rec.end, seq),
                node=node_of(rec),
                gpu_model=rec.gpu_model,
                state=rec.data["state"],
                reason=rec.data.get("reason"),
                start=rec.start,
                end=rec.end,
                seq=seq,
            )
    return found


@dataclass(frozen=True)
class FleetSeconds:
    """Card-seconds of one model in one group (busy may be fractional)."""

    capacity: int = 0
    reported: int = 0
    down: int = 0
    allocated: int = 0
    busy: Decimal = field(default=Decimal(0))

    def __add__(self, other: FleetSeconds) -> FleetSeconds:
        return FleetSeconds(
            self.capacity + other.capacity,
            self.reported + other.reported,
            self.down + other.down,
            self.allocated + other.allocated,
            self.busy + other.busy,
        )

    @property
    def lit(self) -> int:
        return self.reported - self.down

    @property
    def dark(self) -> int:
        return max(0, self.capacity - self.reported)
