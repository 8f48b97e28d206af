"""CloudEvents 1.0 the agent sends (SPEC §3), built from plain values.

Ids are deterministic, so whatever is resent after a crash or a lost 202 carries the same
``(source, id)`` and the server counts it once:

* `gpu.usage`: ``{node}-{gpu}-{interval start epoch}`` (one GPU cannot start two intervals in
  the same second);
* `llm.tokens`: ``{node}-{endpoint}-{model}-{window start epoch}``;
* `gpu.status`: ``{node}-{gpu}-status-{start epoch}`` (one per GPU per window, SPEC §15; its start
  is the window's, or the first observation after a restart, so a restart's piece has its own id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from decimal import ROUND_HALF_UP, Decimal

from metering.agent.windows import rfc3339

SPECVERSION = "1.0"


@dataclass(frozen=True)
class Holder:
    """Who holds a GPU: the tenant billed for it and, optionally, the contract named."""

    tenant: str
    contract_id: str | None = None


def utilization_text(value: float) -> str:
    """Utilisation 0–1 as a decimal string with two places ("0.83"), clamped to [0, 1]."""
    clamped = min(1.0, max(0.0, value))
    return str(Decimal(repr(clamped)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def gpu_usage_id(node: str, gpu: str, start: int) -> str:
    return f"{node}-{gpu}-{start}"


def gpu_usage(
    *,
    source: str,
    node: str,
    gpu: str,
    gpu_model: str,
    holder: Holder,
    start: int,
    end: int,
    utilization: float | None,
    tz: tzinfo,
) -> dict:
    """A `gpu.usage` event: `holder` held `gpu` for ``[start, end)`` (epoch seconds)."""
    if end <= start:
        raise ValueError("a usage interval needs end > start")
    data: dict = {
        "node": node,
        "gpu": gpu,
        "gpu_model": gpu_model,
        "start": rfc3339(start, tz),
        "end": rfc3339(end, tz),
    }
    if utilization is not None:
        data["utilization"] = utilization_text(utilization)
    if holder.contract_id:
        data["contract_id"] = holder.contract_id
    return {
        "specversion": SPECVERSION,
        "id": gpu_usage_id(node, gpu, start),
        "source": source,
        "type": "gpu.usage",
        "subject": holder.tenant,
        "time": rfc3339(end, tz),
        "data": data,
    }


def llm_tokens(
    *,
    source: str,
    node: str,
    endpoint: str,
    model: str,
    holder: Holder,
    window_start: int,
    at: int,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    tz: tzinfo,
) -> dict:
    """An `llm.tokens` event: counts for `model` in the window starting at `window_start`."""
    data: dict = {
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": cached_tokens,
    }
    if holder.contract_id:
        data["contract_id"] = holder.contract_id
    return {
        "specversion": SPECVERSION,
        "id": f"{node}-{endpoint}-{model}-{window_start}",
        "source": source,
        "type": "llm.tokens",
        "subject": holder.tenant,
        "time": rfc3339(at, tz),
        "data": data,
    }


def gpu_status(
    *,
    source: str,
    node: str,
    gpu: str,
    gpu_model: str,
    state: str,
    start: int,
    end: int,
    utilization: float | None,
    reason: str | None,
    holder: Holder | None,
    tz: tzinfo,
) -> dict:
    """A `gpu.status` event (SPEC §15): `gpu` was `state` (idle | allocated | down) over ``[start, end)``.

    Not billed; `subject` is the holder's tenant when allocated, absent otherwise.
    """
    if state not in ("idle", "allocated", "down"):
        raise ValueError(f"unknown GPU state {state!r}")
    data: dict = {
        "node": node,
        "gpu": gpu,
        "gpu_model": gpu_model,
        "start": rfc3339(start, tz),
        "end": rfc3339(max(end, start + 1), tz),
        "state": state,
    }
    if utilization is not None:
        data["utilization"] = utilization_text(utilization)
    if reason:
        data["reason"] = reason[:256]
    event = {
        "specversion": SPECVERSION,
        "id": f"{node}-{gpu}-status-{start}",
        "source": source,
        "type": "gpu.status",
        "time": rfc3339(end, tz),
        "data": data,
    }
    if holder is not None and state == "allocated":
        event["subject"] = holder.tenant
    return event
