"""Process-level tuning for Kashi's long-running processes (API and workers)."""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 20)
"""Allocations between young-generation collections (CPython's default is 700). Ingest allocates
a few objects per event and frees them at the end of the batch; at the default, the collector
ran so often, over a heap of long-lived imports, that it cost more than the interval union."""


def tune_gc() -> None:
    """Move everything loaded so far out of the collector's sight and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
