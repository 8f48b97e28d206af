"""One window of GPU observations → `gpu.usage` intervals (SPEC §3).

The agent observes every GPU every few seconds: who holds it (allocation source) and how busy
it is (collector). At the window's end each GPU's window is cut where its holder changed; each
piece held by a tenant becomes one interval, with the mean utilisation of the samples in it.

Who held the GPU from the window's start until the first observation? The holder carried over
from the previous window when the agent watched that one too; otherwise (first window after a
start) the interval begins at the first observation: an agent that was down bills nothing it did
not see, rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metering.agent.events import Holder


@dataclass(frozen=True)
class Observation:
    """One GPU at one instant (epoch second)."""

    at: int
    holder: Holder | None
    utilization: float | None
    gpu_model: str
    down: str | None = None  # why the card was down at this instant (SPEC §15), else None


@dataclass(frozen=True)
class Interval:
    """`holder` held `gpu` for ``[start, end)``; `utilization` is the mean of its samples, if any."""

    gpu: str
    gpu_model: str
    holder: Holder
    start: int
    end: int
    utilization: float | None


@dataclass(frozen=True)
class Status:
    """One GPU's state over a window (SPEC §15): ``down`` if any observation saw it down, else
    ``allocated`` if held at any observation, else ``idle``; `holder` the last one seen."""

    gpu: str
    gpu_model: str
    start: int
    end: int
    state: str
    reason: str | None
    utilization: float | None
    holder: Holder | None


@dataclass
class Window:
    """Observations of ``[start, end)`` (epoch seconds), per GPU UUID."""

    start: int
    end: int
    carried: dict[str, Holder | None] = field(default_factory=dict)
    observations: dict[str, list[Observation]] = field(default_factory=dict)

    def observe(self, gpu: str, observation: Observation) -> None:
        if not self.start <= observation.at < self.end:
            raise ValueError(f"observation at {observation.at} outside window [{self.start}, {self.end})")
        self.observations.setdefault(gpu, []).append(observation)

    def holders_at_end(self) -> dict[str, Holder | None]:
        """Last known holder per GPU, carried into the next window."""
        last = dict(self.carried)
        for gpu, seen in self.observations.items():
            last[gpu] = max(seen, key=lambda o: o.at).holder
        return last

    def intervals(self) -> list[Interval]:
        """The window cut at every change of holder; pieces held by nobody are left out."""
        result: list[Interval] = []
        for gpu in sorted(set(self.observations) | set(self.carried)):
            result.extend(self._intervals_of(gpu))
        return result

    def _intervals_of(self, gpu: str) -> list[Interval]:
        seen = sorted(self.observations.get(gpu, []), key=lambda o: o.at)
        model = seen[-1].gpu_model if seen else None
        if gpu in self.carried:
            pieces: list[tuple[int, Holder | None, list[float]]] = [(self.start, self.carried[gpu], [])]
        elif seen:
            pieces = [(seen[0].at, seen[0].holder, [])]
        else:
            return []
        for o in seen:
            start, holder, utils = pieces[-1]
            if o.holder != holder:
                if o.at == start:
                    pieces[-1] = (start, o.holder, utils)
                else:
                    pieces.append((o.at, o.holder, []))
            if o.utilization is not None:
                pieces[-1][2].append(o.utilization)
        if model is None:
            return []
        out = []
        for i, (start, holder, utils) in enumerate(pieces):
            end = pieces[i + 1][0] if i + 1 < len(pieces) else self.end
            if holder is None or end <= start:
                continue
            mean = sum(utils) / len(utils) if utils else None
            out.append(Interval(gpu, model, holder, start, end, mean))
        return out

    def statuses(self) -> list[Status]:
        """One `Status` per GPU observed in the window, from its first observation (or the window's
        start when it was watched in the previous window) to the window's end."""
        out = []
        for gpu in sorted(self.observations):
            seen = sorted(self.observations[gpu], key=lambda o: o.at)
            start = self.start if gpu in self.carried else seen[0].at
            downs = [o.down for o in seen if o.down]
            held = [o.holder for o in seen if o.holder is not None]
            state = "down" if downs else "allocated" if held else "idle"
            utils = [o.utilization for o in seen if o.utilization is not None]
            out.append(
                Status(
                    gpu,
                    seen[-1].gpu_model,
                    start,
                    self.end,
                    state,
                    downs[-1] if downs else None,
                    sum(utils) / len(utils) if utils else None,
                    held[-1] if held else None,
                )
            )
        return out
