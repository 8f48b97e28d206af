"""From validated usage records to what they newly contribute and the hourly rollups (SPEC §2, §3).

:func:`claim` is the union rule: each GPU-second is counted once, for the first event persisted
that covers it (lowest log sequence). A second reported again by the same tenant adds nothing; a
second reported by another tenant adds nothing either and is recorded as a :class:`Conflict`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from metering.events import UsageRecord
from metering.intervals import HOUR, gaps, split


class Covered(NamedTuple):
    """A stretch of a GPU's time already counted, and the tenant it was counted for."""

    start: int
    end: int
    tenant_id: str


class Piece(NamedTuple):
    """Seconds ``[start, end)`` of ``gpu`` newly counted by the event at log position ``seq``."""

    seq: int
    tenant_id: str
    contract_id: str | None
    gpu: str
    gpu_model: str
    start: int
    end: int


class Conflict(NamedTuple):
    """Seconds of ``gpu`` that ``tenant_id`` reported but ``holder_tenant_id`` was billed for."""

    seq: int
    gpu: str
    start: int
    end: int
    tenant_id: str
    holder_tenant_id: str


class _Timeline:
    """One GPU's counted time: disjoint stretches kept sorted, so the stretches overlapping an
    interval are found by bisection instead of a scan of the whole GPU's history."""

    __slots__ = ("starts", "ends", "spans")

    def __init__(self, spans: Iterable[Covered]):
        self.spans = sorted(spans, key=lambda c: c.start)
        self.starts = [c.start for c in self.spans]
        self.ends = [c.end for c in self.spans]

    def overlapping(self, start: int, end: int) -> list[Covered]:
        first = bisect_right(self.ends, start)  # stretches are disjoint, so ends are sorted too
        last = bisect_left(self.starts, end, lo=first)
        return self.spans[first:last]

    def add(self, span: Covered) -> None:
        at = bisect_left(self.starts, span.start)
        self.spans.insert(at, span)
        self.starts.insert(at, span.start)
        self.ends.insert(at, span.end)


def claim(
    records: Iterable[tuple[int, UsageRecord]], covered: Mapping[str, list[Covered]]
) -> tuple[list[Piece], list[Conflict]]:
    """Decide what each ``(seq, record)`` of GPU usage newly adds, in ``seq`` order.

    ``covered`` holds, per GPU, what earlier events already counted (disjoint stretches, at least
    every one that overlaps these records). It is not modified.
    """
    timelines = {gpu: _Timeline(spans) for gpu, spans in covered.items()}
    pieces: list[Piece] = []
    conflicts: list[Conflict] = []
    for seq, rec in sorted(records, key=lambda pair: pair[0]):
        timeline = timelines.get(rec.gpu)
        if timeline is None:
            timeline = timelines[rec.gpu] = _Timeline(())
        near = timeline.overlapping(rec.start, rec.end)
        for c in near:
            if c.tenant_id != rec.tenant_id:
                start, end = max(rec.start, c.start), min(rec.end, c.end)
                conflicts.append(Conflict(seq, rec.gpu, start, end, rec.tenant_id, c.tenant_id))
        for start, end in gaps((rec.start, rec.end), [(c.start, c.end) for c in near]):
            pieces.append(Piece(seq, rec.tenant_id, rec.contract_id, rec.gpu, rec.gpu_model, start, end))
            timeline.add(Covered(start, end, rec.tenant_id))
    return pieces, _merge_conflicts(conflicts)


def _merge_conflicts(conflicts: list[Conflict]) -> list[Conflict]:
    """Join a claimant's adjacent conflict stretches against the same holder into one."""
    merged: list[Conflict] = []
    for c in conflicts:
        last = merged[-1] if merged else None
        if (
            last
            and last.seq == c.seq
            and last.gpu == c.gpu
            and last.holder_tenant_id == c.holder_tenant_id
            and last.end == c.start
        ):
            merged[-1] = Conflict(c.seq, c.gpu, last.start, c.end, c.tenant_id, c.holder_tenant_id)
        else:
            merged.append(c)
    return merged


GpuKey = tuple[str, str, str, int]
"""(tenant_id, contract_id or "", gpu_model, hour start as UTC epoch)."""
TokenKey = tuple[str, str, str, int]
"""(tenant_id, contract_id or "", model, hour start as UTC epoch)."""


def gpu_rollup(pieces: Iterable[Piece]) -> dict[GpuKey, int]:
    """Card-seconds per tenant, contract, GPU model and hour, split exactly at hour boundaries."""
    totals: dict[GpuKey, int] = defaultdict(int)
    for p in pieces:
        for hour, seconds in split((p.start, p.end), HOUR):
            totals[(p.tenant_id, p.contract_id or "", p.gpu_model, hour)] += seconds
    return dict(totals)


def token_rollup(records: Iterable[UsageRecord]) -> dict[TokenKey, list[int]]:
    """``[input, output, cached]`` tokens per tenant, contract, model and hour of the event's ``time``."""
    totals: dict[TokenKey, list[int]] = {}
    for rec in records:
        key = (rec.tenant_id, rec.contract_id or "", rec.model, int(rec.time // HOUR * HOUR))
        found = totals.get(key)
        if found is None:
            totals[key] = [rec.input_tokens, rec.output_tokens, rec.cached_tokens]
        else:
            found[0] += rec.input_tokens
            found[1] += rec.output_tokens
            found[2] += rec.cached_tokens
    return totals
