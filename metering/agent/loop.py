"""The agent's cycle: observe every few seconds, close each window into events, spool them.

`Agent.tick` is one observation (collector + allocation source) at the injected clock's time;
when the clock has passed the open window's end, the window is closed first: its intervals and
the token deltas become CloudEvents, stored in the spool in one transaction with the token
counter state (or printed, in a dry run). Delivery runs beside it (`deliver`), so a slow or
absent server never delays observation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from metering.agent import counters, events
from metering.agent.allocation import AllocationSource
from metering.agent.collectors.base import Collector, GpuSample
from metering.agent.collectors.tokens import TokenCounterReader
from metering.agent.config import TokenEndpointConfig
from metering.agent.events import Holder
from metering.agent.gpu_models import ModelNames
from metering.agent.metrics import AgentMetrics
from metering.agent.sender import Sender
from metering.agent.spool import Spool
from metering.agent.usage import Observation, Window
from metering.agent.windows import epoch, rfc3339, window_start

log = logging.getLogger("kashi.agent.loop")


@dataclass
class TokenEndpoint:
    config: TokenEndpointConfig
    reader: TokenCounterReader

    @property
    def state_key(self) -> str:
        return f"tokens:{self.config.endpoint}"


@dataclass
class Agent:
    """One node's agent. `spool` None means a dry run: events go to `emit` and nowhere else."""

    source: str
    node: str
    window_s: int
    tz: object
    collector: Collector | None
    allocation: AllocationSource
    clock: Callable[[], datetime]
    models: ModelNames = field(default_factory=ModelNames)
    tokens: Sequence[TokenEndpoint] = ()
    spool: Spool | None = None
    metrics: AgentMetrics = field(default_factory=AgentMetrics)
    emit: Callable[[list[dict]], None] | None = None
    default_model: str = "unknown"
    window: Window | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    _last_samples: dict[str, GpuSample] = field(default_factory=dict)
    _lost: set[str] = field(default_factory=set)
    _warned_mig: set[str] = field(default_factory=set)
    _blind: bool = False  # in this window the collector saw no GPU while GPUs were held
    _started_at: int | None = None
    _warned_cached: set[str] = field(default_factory=set)
    _known_models: dict[str, str] = field(default_factory=dict)
    _memory_state: dict[str, str] = field(default_factory=dict)

    # --- observation ---------------------------------------------------------------------
    def tick(self) -> list[dict]:
        """Observe once; returns the events of a window this tick closed (else [])."""
        now = self.clock()
        t = epoch(now)
        if self._started_at is None:
            self._started_at = t
        closed: list[dict] = []
        if self.window is not None and t >= self.window.end:
            closed = self.close_window(now)
        if self.window is None:
            start = window_start(now, self.window_s, self.tz)
            self.window = Window(start, start + self.window_s)
            self._baseline_tokens(t)
        self._observe(t)
        return closed

    def _collect(self) -> tuple[list[GpuSample], bool]:
        """The GPUs now, and whether the collector answered. A failed read keeps the last GPUs
        (allocation still counts, utilisation unknown), marked down with the failure; a GPU seen
        before and missing from a good read is kept, marked gone from the bus (SPEC §15)."""
        if self.collector is None:
            return [], False
        try:
            samples = self.collector.collect()
        except Exception as error:  # a collector is third-party I/O: any failure is logged, not fatal
            self.metrics.collect_errors.labels(collector=self.collector.name).inc()
            log.warning(
                "collector failed; allocation still counts, utilisation unknown",
                extra={"collector": self.collector.name, "error": repr(error)},
            )
            reason = f"collector {self.collector.name} failed: {error!r}"[:256]
            return [
                GpuSample(s.uuid, s.index, s.model, None, s.hostname, s.labels, reason)
                for s in self._last_samples.values()
            ], False
        now = {s.uuid for s in samples}
        for uuid, last in self._last_samples.items():
            if uuid not in now:
                if uuid not in self._lost:
                    self._lost.add(uuid)
                    log.error(
                        "GPU no longer reported: down, gone from the bus or its driver",
                        extra={"gpu": uuid, "collector": self.collector.name},
                    )
                samples = [
                    *samples,
                    GpuSample(
                        uuid,
                        last.index,
                        last.model,
                        None,
                        last.hostname,
                        {},
                        f"not reported by {self.collector.name} (gone from the bus?)",
                    ),
                ]
        for sample in samples:
            if sample.uuid in now:
                self._lost.discard(sample.uuid)
                self._last_samples[sample.uuid] = sample
            if sample.mig_split:
                self.metrics.mig_split.inc()
                if sample.uuid not in self._warned_mig:
                    self._warned_mig.add(sample.uuid)
                    log.warning(
                        "MIG card with instances held by different holders (or some idle): "
                        "not billed as one tenant's card",
                        extra={"gpu": sample.uuid},
                    )
        return samples, bool(now)

    def _observe(self, t: int) -> None:
        assert self.window is not None
        samples, answered = self._collect()
        try:
            holders = self.allocation.holders(samples)
        except Exception as error:  # the allocation source reads files and commands; keep observing
            log.error("allocation source failed; GPUs counted as idle", extra={"error": repr(error)})
            holders = {}
        if self.collector is not None and not answered and holders:
            self._blind = True
        by_uuid = {s.uuid: s for s in samples}
        for gpu in sorted(set(by_uuid) | set(holders)):
            sample = by_uuid.get(gpu)
            if sample is not None and sample.model:
                self._known_models[gpu] = self.models.catalog_name(sample.model)
            model = self._known_models.get(gpu, self.default_model)
            utilization = sample.utilization if sample else None
            down = sample.down if sample else None
            self.window.observe(gpu, Observation(t, holders.get(gpu), utilization, model, down))
        self.metrics.gpus.labels(state="down").set(sum(1 for s in samples if s.down))
        up = [g for g, s in by_uuid.items() if not s.down]
        self.metrics.gpus.labels(state="allocated").set(sum(1 for g in up if g in holders))
        self.metrics.gpus.labels(state="idle").set(sum(1 for g in up if g not in holders))

    # --- closing a window ----------------------------------------------------------------
    def close_window(self, now: datetime) -> list[dict]:
        """Turn the open window into events and store them; opens the next window if `now` is in it."""
        assert self.window is not None
        window = self.window
        end = min(window.end, epoch(now))
        if end < window.end:  # shutting down inside the window: bill what was seen
            window = Window(window.start, max(end, window.start + 1), window.carried, window.observations)
        built = [
            events.gpu_usage(
                source=self.source,
                node=self.node,
                gpu=iv.gpu,
                gpu_model=iv.gpu_model,
                holder=iv.holder,
                start=iv.start,
                end=iv.end,
                utilization=iv.utilization,
                tz=self.tz,
            )
            for iv in window.intervals()
            if iv.end > iv.start
        ]
        built += [
            events.gpu_status(
                source=self.source,
                node=self.node,
                gpu=st.gpu,
                gpu_model=st.gpu_model,
                state=st.state,
                start=st.start,
                end=window.end,
                utilization=st.utilization,
                reason=st.reason,
                holder=st.holder,
                tz=self.tz,
            )
            for st in window.statuses()
            if window.end > st.start
        ]
        if self._blind:
            self._blind = False
            name = self.collector.name if self.collector else "none"
            self.metrics.no_gpus.labels(collector=name).inc()
            self.metrics.collect_errors.labels(collector=name).inc()
            log.error(
                "the collector found no GPU while GPUs are held: their usage goes out with the default "
                "model and no utilisation; check the collector (or set [gpu] collector)",
                extra={"collector": name, "window_start": rfc3339(window.start, self.tz)},
            )
        token_events, state = self._token_events(window.end)
        built += token_events
        self._store(built, state)
        next_start = window_start(now, self.window_s, self.tz)
        carried = window.holders_at_end() if next_start == window.end else {}
        self.window = Window(next_start, next_start + self.window_s, carried) if next_start >= window.end else None
        log.info(
            "window closed",
            extra={
                "window_start": rfc3339(window.start, self.tz),
                "window_end": rfc3339(window.end, self.tz),
                "events": len(built),
            },
        )
        return built

    def _store(self, built: list[dict], state: dict[str, str]) -> None:
        if self.spool is None:
            self._memory_state.update(state)
            if self.emit:
                self.emit(built)
            return
        added = self.spool.add(built, state)
        self.metrics.spooled.inc(added.stored)
        if added.refused:
            self.metrics.refused.inc(added.refused)
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.used_bytes())
        if added.stored:
            self.wake.set()

    # --- tokens --------------------------------------------------------------------------
    def _state(self, key: str) -> str | None:
        if self.spool is None:
            return self._memory_state.get(key)
        return self.spool.get_state(key)

    def _baseline_tokens(self, t: int) -> None:
        """First scrape of an endpoint never seen before: its counters are the baseline."""
        for endpoint in self.tokens:
            if self._state(endpoint.state_key) is not None:
                continue
            try:
                values, _ = self._read(endpoint)
            except Exception as error:  # an inference server may be down; retry later
                log.warning("token endpoint unreachable", extra={"url": endpoint.config.url, "error": repr(error)})
                continue
            value = json.dumps({"at": t, "counters": values})
            if self.spool is None:
                self._memory_state[endpoint.state_key] = value
            else:
                self.spool.set_state(endpoint.state_key, value)

    def _read(self, endpoint: TokenEndpoint) -> tuple[dict[str, float], dict[str, float]]:
        with_created = getattr(endpoint.reader, "collect_with_created", None)
        if with_created is not None:
            return with_created()
        return endpoint.reader.collect(), {}

    def _warn_without_cached(self, endpoint: TokenEndpoint, values: dict[str, float]) -> None:
        kinds = _kinds(values)
        if "prompt" in kinds and "cached" not in kinds and endpoint.state_key not in self._warned_cached:
            self._warned_cached.add(endpoint.state_key)
            log.warning(
                "the inference server exports no cached-token counter: cached_tokens is sent as 0 and "
                "every prompt token is counted as input (upgrade it to separate them)",
                extra={"url": endpoint.config.url},
            )

    def _token_events(self, at: int) -> tuple[list[dict], dict[str, str]]:
        built, state = [], {}
        for endpoint in self.tokens:
            try:
                values, created = self._read(endpoint)
            except Exception as error:  # counted next window: the delta keeps them
                self.metrics.collect_errors.labels(collector="tokens").inc()
                log.warning("token endpoint unreachable", extra={"url": endpoint.config.url, "error": repr(error)})
                continue
            saved = self._state(endpoint.state_key)
            previous = json.loads(saved) if saved else None
            seen_since = int(previous["at"]) if previous else self._started_at
            deltas = counters.deltas(previous["counters"] if previous else None, values, created, seen_since)
            since = int(previous["at"]) if previous else at
            self._warn_without_cached(endpoint, values)
            holder = Holder(endpoint.config.tenant, endpoint.config.contract_id)
            for model, (inp, out, cached) in counters.per_model(deltas).items():
                if inp == out == cached == 0:
                    continue
                built.append(
                    events.llm_tokens(
                        source=self.source,
                        node=self.node,
                        endpoint=endpoint.config.endpoint,
                        model=endpoint.config.models.get(model, model),
                        holder=holder,
                        window_start=since,
                        at=at,
                        input_tokens=inp,
                        output_tokens=out,
                        cached_tokens=cached,
                        tz=self.tz,
                    )
                )
            state[endpoint.state_key] = json.dumps({"at": at, "counters": values})
        return built, state


def _kinds(values: dict[str, float]) -> set[str]:
    return {json.loads(key)[0] for key in values}


def deliver(sender: Sender, stop: threading.Event, wake: threading.Event, metrics: AgentMetrics) -> None:
    """Send until `stop`: batch after batch, waiting `retry_in` after failures, idle when empty."""
    pruned_at = 0.0
    while not stop.is_set():
        outcome = sender.send_batch()
        metrics.spool_depth.set(sender.spool.depth())
        metrics.spool_bytes.set(sender.spool.used_bytes())
        if outcome.status == "empty":
            if time.monotonic() - pruned_at > 3600:
                sender.spool.forget_delivered()
                pruned_at = time.monotonic()
            wake.wait(timeout=5.0)
            wake.clear()
        elif outcome.retry_in:
            stop.wait(outcome.retry_in)


def drain(sender: Sender, sleep: Callable[[float], None], attempts: int = 5, max_wait_s: float = 30.0) -> bool:
    """Send everything pending, retrying failures up to `attempts` times; True when the spool is empty."""
    failures = 0
    while True:
        outcome = sender.send_batch()
        if outcome.status == "empty":
            return True
        if outcome.status == "retry":
            failures += 1
            if failures >= attempts:
                return False
            sleep(min(outcome.retry_in or 0.0, max_wait_s))
