"""Half-open intervals of whole seconds ``[start, end)`` as UTC epoch ints (SPEC §2).

One GPU is never billed twice for the same second: what a new interval adds is what it covers
beyond what is already counted (:func:`subtract`), and splitting at hour or period boundaries
never loses or adds a second (:func:`split`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

Interval = tuple[int, int]
HOUR = 3600


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent-merged cover of ``intervals``."""
    merged: list[list[int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def length(intervals: Iterable[Interval]) -> int:
    """Seconds covered by ``intervals`` counted once (the length of their union)."""
    return sum(e - s for s, e in union(intervals))


def subtract(interval: Interval, covered: Iterable[Interval]) -> list[Interval]:
    """The parts of ``interval`` not inside any of ``covered``, in order."""
    return gaps(interval, union(covered))


def gaps(interval: Interval, disjoint: Iterable[Interval]) -> list[Interval]:
    """:func:`subtract` for ``disjoint``, already sorted and non-overlapping (no sort needed)."""
    start, end = interval
    pieces: list[Interval] = []
    cursor = start
    for cs, ce in disjoint:
        if ce <= cursor:
            continue
        if cs >= end:
            break
        if cs > cursor:
            pieces.append((cursor, cs))
        cursor = ce
        if cursor >= end:
            break
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def intersect(interval: Interval, others: Iterable[Interval]) -> list[Interval]:
    """The parts of ``interval`` that lie inside ``others``."""
    start, end = interval
    return [(max(start, s), min(end, e)) for s, e in union(others) if s < end and e > start]


def split(interval: Interval, step: int = HOUR) -> Iterator[tuple[int, int]]:
    """Yield ``(bucket_start, seconds)`` for each ``step``-aligned bucket the interval touches.

    Buckets are aligned to the UTC epoch, so hours are exact in every timezone whose offset is a
    whole number of hours; the sum of the seconds is always ``end - start``.
    """
    start, end = interval
    cursor = start
    while cursor < end:
        bucket = cursor - cursor % step
        stop = min(end, bucket + step)
        yield bucket, stop - cursor
        cursor = stop


def split_at(interval: Interval, boundaries: Iterable[int]) -> list[Interval]:
    """Cut ``interval`` at each boundary inside it (e.g. period starts)."""
    start, end = interval
    cuts = sorted(b for b in boundaries if start < b < end)
    points = [start, *cuts, end]
    return list(zip(points, points[1:], strict=False))
