"""The one way tests wait for another process: poll a condition until it holds, or fail naming it."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, timeout: float = 20.0, *, every: float = 0.05) -> None:
    """Return as soon as ``condition()`` is truthy; raise AssertionError naming ``what`` after ``timeout``
    seconds. ``condition`` may itself raise AssertionError to fail at once (a process that died)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
