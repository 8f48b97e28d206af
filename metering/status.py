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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
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


class TenantHour(NamedTuple):
    """Newly counted usage of one (tenant, contract, gpu_model, hour): the seconds, their busy card-seconds,
    and the highest log sequence among the pieces that added to it."""

    allocated: int
    busy: Decimal
    seq: int


# Busy card-seconds are summed exactly as integers: a utilization ``"0.83"`` is the coefficient 83 at
# the exponent -2, and utilization × seconds is ``83 * seconds`` at -2. A sum keeps the smallest
# exponent of its terms (never above 0), which is the exponent Decimal arithmetic gives the same sum,
# so the numeric written is the same value with the same scale ("2988.00"); there is no rounding at
# any number of digits. Decimals are built once per rollup row, not per piece-hour.


@lru_cache(maxsize=4096)
def _exact_text(text: str) -> tuple[int, int]:
    return _exact_decimal(Decimal(text))


def _exact_decimal(value: Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.as_tuple()
    coefficient = int("".join(map(str, digits))) if digits else 0
    return (-coefficient if sign else coefficient), int(exponent)


def exact(value: str | Decimal) -> tuple[int, int]:
    """``(coefficient, exponent)`` with value = coefficient × 10 ** exponent, exactly (the exponent
    Decimal gives it: ``"0.830"`` is ``(830, -3)``)."""
    if isinstance(value, str):
        return _exact_text(value)
    return _exact_decimal(value if isinstance(value, Decimal) else Decimal(value))


def exact_decimal(coefficient: int, exponent: int) -> Decimal:
    """The Decimal ``coefficient × 10 ** exponent``, built without rounding."""
    return Decimal(f"{coefficient}E{exponent}")


def _add_scaled(cell: list, at: int, coefficient: int, exponent: int) -> None:
    """``cell[at] × 10 ** cell[at + 1]`` += ``coefficient × 10 ** exponent``, keeping the smaller exponent."""
    held = cell[at + 1]
    if exponent == held:
        cell[at] += coefficient
    elif exponent < held:
        cell[at] = cell[at] * 10 ** (held - exponent) + coefficient
        cell[at + 1] = exponent
    else:
        cell[at] += coefficient * 10 ** (exponent - held)


def usage_rate(rec: UsageRecord) -> tuple[int, int]:
    """The usage event's utilization as an exact ``(coefficient, exponent)``; ``(0, 0)`` without one
    (or for a zero one: a usage piece without utilization adds plain 0 to busy)."""
    value = rec.data.get("utilization")
    if value is None:
        return 0, 0
    coefficient, exponent = exact(value)
    return (coefficient, exponent) if coefficient else (0, 0)


def fold_usage(pieces: Iterable, records: Mapping[int, UsageRecord]) -> dict[tuple, list]:
    """Newly counted usage pieces (`metering.rollups.Piece`) split at hours once and summed per
    ``(gpu, node, gpu_model, tenant, contract or "", hour)``: ``[allocated seconds, busy coefficient,
    busy exponent, highest seq]``. Every usage rollup is a sum of these cells (`fleet_totals`).

    busy = the usage event's `utilization` × the seconds it newly counted (0 without one); node is
    the one the usage event names."""
    cells: dict[tuple, list] = {}
    get = cells.get
    for p in pieces:
        start, end, seq = p.start, p.end, p.seq
        if start >= end:
            continue
        rec = records[seq]
        rate, exponent = usage_rate(rec)
        node = rec.data.get("node") or ""
        gpu, model, tenant, contract = p.gpu, p.gpu_model, p.tenant_id, p.contract_id or ""
        hour = start - start % HOUR
        while True:
            stop = hour + HOUR
            seconds = (end if end < stop else stop) - start
            key = (gpu, node, model, tenant, contract, hour)
            cell = get(key)
            if cell is None:
                cells[key] = [seconds, rate * seconds, exponent, seq]
            else:
                cell[0] += seconds
                if exponent == cell[2]:
                    cell[1] += rate * seconds
                else:
                    _add_scaled(cell, 1, rate * seconds, exponent)
                if seq > cell[3]:
                    cell[3] = seq
            if end <= stop:
                break
            start = hour = stop
    return cells


def fold_status(pieces: Iterable[StatusPiece]) -> dict[tuple, list]:
    """Newly reported status pieces split at hours once and summed per ``(gpu, node, gpu_model, hour)``:
    ``[reported, down, status busy coefficient, status busy exponent]`` (status busy: the report's
    utilization × seconds, for pieces reported allocated with a utilization)."""
    cells: dict[tuple, list] = {}
    for p in pieces:
        if p.state == "allocated" and p.utilization is not None:
            rate, exponent = exact(p.utilization)
        else:
            rate, exponent = 0, 0
        down = p.state == DOWN
        for hour, seconds in split((p.start, p.end), HOUR):
            key = (p.gpu, p.node, p.gpu_model, hour)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = [0, 0, 0, 0]
            cell[0] += seconds
            if down:
                cell[1] += seconds
            _add_scaled(cell, 2, rate * seconds, exponent)
    return cells


def _hour_totals(sums: Mapping[tuple, list]) -> dict[tuple, HourTotals]:
    return {
        key: HourTotals(s[0], s[1], s[2], exact_decimal(s[3], s[4]), exact_decimal(s[5], s[6]))
        for key, s in sums.items()
    }


class FleetTotals(NamedTuple):
    """What a batch adds to each hourly fleet rollup, by its key."""

    by_gpu: dict[tuple, HourTotals]
    """(gpu, hour)"""
    by_node: dict[tuple, HourTotals]
    """(node, gpu_model, hour)"""
    by_model: dict[tuple, HourTotals]
    """(gpu_model, hour, shard of the node)"""
    by_tenant: dict[tuple, TenantHour]
    """(tenant, contract or "", gpu_model, hour)"""


def fleet_totals(
    usage: Mapping[tuple, list], status: Mapping[tuple, list], shard: Callable[[str], int] = lambda node: 0
) -> FleetTotals:
    """The rollup rows of `fold_usage` and `fold_status` cells: each row the exact sum of its cells."""
    gpu: dict[tuple, list] = {}
    node: dict[tuple, list] = {}
    tenant: dict[tuple, list] = {}

    def add(into: dict, key: tuple, reported: int, down: int, allocated: int, busy: tuple, status_busy: tuple) -> None:
        s = into.get(key)
        if s is None:
            s = into[key] = [0, 0, 0, 0, 0, 0, 0]
        s[0] += reported
        s[1] += down
        s[2] += allocated
        _add_scaled(s, 3, *busy)
        _add_scaled(s, 5, *status_busy)

    none = (0, 0)
    for (g, n, model, t, contract, hour), (allocated, rate, exponent, seq) in usage.items():
        busy = (rate, exponent)
        add(gpu, (g, hour), 0, 0, allocated, busy, none)
        add(node, (n, model, hour), 0, 0, allocated, busy, none)
        s = tenant.get((t, contract, model, hour))
        if s is None:
            s = tenant[(t, contract, model, hour)] = [0, 0, 0, 0]
        s[0] += allocated
        _add_scaled(s, 1, rate, exponent)
        s[3] = max(s[3], seq)
    for (g, n, model, hour), (reported, down, rate, exponent) in status.items():
        add(gpu, (g, hour), reported, down, 0, none, (rate, exponent))
        add(node, (n, model, hour), reported, down, 0, none, (rate, exponent))
    shards = {n: shard(n) for n, _, _ in node}
    model_sums: dict[tuple, list] = {}
    for (n, model, hour), s in node.items():
        add(model_sums, (model, hour, shards[n]), s[0], s[1], s[2], (s[3], s[4]), (s[5], s[6]))
    return FleetTotals(
        _hour_totals(gpu),
        _hour_totals(node),
        _hour_totals(model_sums),
        {key: TenantHour(s[0], exact_decimal(s[1], s[2]), s[3]) for key, s in tenant.items()},
    )


def status_hourly(pieces: Iterable[StatusPiece]) -> tuple[dict[tuple, HourTotals], dict[tuple, HourTotals]]:
    """Reported and down seconds per (gpu, hour) and per (node, gpu_model, hour), split at hours."""
    totals = fleet_totals({}, fold_status(pieces))
    return totals.by_gpu, totals.by_node


def utilization_of(rec: UsageRecord) -> Decimal | None:
    value = rec.data.get("utilization")
    return None if value is None else Decimal(value)


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
