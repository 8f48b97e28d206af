"""From validated usage records to what they newly contribute and the hourly rollups (SPEC §2, §3).

:func:`claim` is the union rule: each GPU-second is counted once, for the first event persisted
that covers it (lowest log sequence). A second reported again by the same tenant adds nothing; a
second reported by another tenant adds nothing either and is recorded as a :class:`Conflict`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from metering.events import TOKEN_KINDS, UsageRecord
from metering.intervals import HOUR, intersect, split, subtract


@dataclass(frozen=True, slots=True)
class Covered:
    """A stretch of a GPU's time already counted, and the tenant it was counted for."""

    start: int
    end: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Piece:
    """Seconds ``[start, end)`` of ``gpu`` newly counted by the event at log position ``seq``."""

    seq: int
    tenant_id: str
    contract_id: str | None
    gpu: str
    gpu_model: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """Seconds of ``gpu`` that ``tenant_id`` reported but ``holder_tenant_id`` was billed for."""

    seq: int
    gpu: str
    start: int
    end: int
    tenant_id: str
    holder_tenant_id: str


def claim(
    records: Iterable[tuple[int, UsageRecord]], covered: Mapping[str, list[Covered]]
) -> tuple[list[Piece], list[Conflict]]:
    """Decide what each ``(seq, record)`` of GPU usage newly adds, in ``seq`` order.

    ``covered`` holds, per GPU, what earlier events already counted (at least every stretch that
    overlaps these records). It is not modified.
    """
    state = {gpu: list(spans) for gpu, spans in covered.items()}
    pieces: list[Piece] = []
    conflicts: list[Conflict] = []
    for seq, rec in sorted(records, key=lambda pair: pair[0]):
        spans = state.setdefault(rec.gpu, [])
        interval = (rec.start, rec.end)
        others = [(c.start, c.end) for c in spans if c.tenant_id != rec.tenant_id]
        for start, end in intersect(interval, others):
            holders = sorted({c.tenant_id for c in spans
                              if c.tenant_id != rec.tenant_id and c.start < end and c.end > start})
            conflicts.append(Conflict(seq, rec.gpu, start, end, rec.tenant_id, holders[0]))
        for start, end in subtract(interval, [(c.start, c.end) for c in spans]):
            pieces.append(Piece(seq, rec.tenant_id, rec.contract_id, rec.gpu, rec.gpu_model, start, end))
            spans.append(Covered(start, end, rec.tenant_id))
    return pieces, conflicts


GpuKey = tuple[str, str, str, int]
"""(tenant_id, contract_id or "", gpu_model, hour start as UTC epoch)."""
TokenKey = tuple[str, str, str, str, int]
"""(tenant_id, contract_id or "", model, token kind, hour start as UTC epoch)."""


def gpu_rollup(pieces: Iterable[Piece]) -> dict[GpuKey, int]:
    """Card-seconds per tenant, contract, GPU model and hour, split exactly at hour boundaries."""
    totals: dict[GpuKey, int] = defaultdict(int)
    for p in pieces:
        for hour, seconds in split((p.start, p.end), HOUR):
            totals[(p.tenant_id, p.contract_id or "", p.gpu_model, hour)] += seconds
    return dict(totals)


def token_rollup(records: Iterable[UsageRecord]) -> dict[TokenKey, int]:
    """Tokens per tenant, contract, model, kind and hour of the event's ``time``."""
    totals: dict[TokenKey, int] = defaultdict(int)
    for rec in records:
        hour = int(rec.time // HOUR * HOUR)
        for kind in TOKEN_KINDS:
            count = rec.tokens[kind]
            if count:
                totals[(rec.tenant_id, rec.contract_id or "", rec.model, kind, hour)] += count
    return dict(totals)
