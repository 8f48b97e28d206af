"""Window alignment (SPEC §3: `gpu.usage` intervals per GPU per window).

A window of `window_s` seconds is aligned to the wall clock of the agent's timezone: 60 s
windows start on the minute, 3,600 s windows on the local hour (which matters in zones such as
Asia/Kathmandu, +05:45). Instants are whole seconds since the epoch, as card-seconds are.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def epoch(t: datetime) -> int:
    """Whole seconds since the epoch (floor) of an aware datetime."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: Kashi needs instants with an offset")
    return int(t.timestamp() // 1)


def window_start(t: datetime, window_s: int, tz: tzinfo) -> int:
    """Epoch second at which the window holding `t` starts, aligned in `tz`'s wall clock."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    offset = t.astimezone(tz).utcoffset()
    shift = int(offset.total_seconds()) if offset else 0
    return (epoch(t) + shift) // window_s * window_s - shift


def rfc3339(epoch_s: int, tz: tzinfo) -> str:
    """RFC 3339 text with the offset of `tz` at that instant, e.g. ``2026-10-01T00:00:00+08:00``."""
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(tz).isoformat()
