"""Counter deltas without negative or double counts (tokens, SPEC §2 and §3).

Counters only grow until the server restarts and they start again from zero. Between two
scrapes a series' delta is ``current - previous``, or ``current`` when it went down (a reset:
everything counted since the restart is new). A series first seen after a previous scrape is
new too; on the very first scrape of an endpoint (no saved state) everything is a baseline,
so installing the agent next to a long-running server does not bill its past — except a series
*created* (``*_created``, or the server's process start) after `since` (the previous scrape, or
the agent's start): everything it counted is new, so it is counted from zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from metering.agent.collectors.tokens import key_kind_model


def deltas(
    previous: Mapping[str, float] | None,
    current: Mapping[str, float],
    created: Mapping[str, float] | None = None,
    since: float | None = None,
) -> dict[str, int]:
    """Whole-token increase of every series in `current` since `previous` (None: first scrape).

    created: when each series started (epoch seconds); since: the previous scrape's time (or,
    on a first scrape, the agent's start). A series created after `since` counts from zero.
    """
    created = created or {}
    out = {}
    for key, value in current.items():
        now = round(value)
        born = created.get(key)
        if since is not None and born is not None and born > since:
            out[key] = now
            continue
        if previous is None:
            out[key] = 0
            continue
        before = round(previous[key]) if key in previous else 0
        out[key] = now - before if now >= before else now
    return out


def per_model(series_deltas: Mapping[str, int]) -> dict[str, tuple[int, int, int]]:
    """``(input, output, cached)`` per model, summed over engines and other labels.

    input excludes cached: the three kinds are disjoint, as they are priced (SPEC §2).
    """
    sums: dict[str, dict[str, int]] = {}
    for key, delta in series_deltas.items():
        kind, model = key_kind_model(key)
        bucket = sums.setdefault(model, {"prompt": 0, "output": 0, "cached": 0})
        bucket[kind] += delta
    out = {}
    for model, b in sorted(sums.items()):
        cached = min(b["cached"], b["prompt"]) if b["prompt"] else b["cached"]
        out[model] = (max(0, b["prompt"] - cached), b["output"], cached)
    return out
