"""Usage events in (CloudEvents 1.0, structured or batch mode) and their receipts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Body, instant


class GpuUsageData(Body):
    node: str = Field(description="The node (machine) the GPU is in.", examples=["n7"])
    gpu: str = Field(description="The GPU's stable id (UUID or serial).", examples=["GPU-5f3c01"])
    gpu_model: str = Field(description="A catalog model name (GET /v1/gpu-models).", examples=["H100-SXM"])
    start: str = instant("Start of the allocation [start, end).", "2026-10-10T00:00:00+08:00")
    end: str = instant("End of the allocation; after start, at most 24 h later.", "2026-10-10T04:00:00+08:00")
    utilization: str | None = Field(
        None, description="0–1, optional: feeds utilisation reports, not the bill.", examples=["0.83"]
    )
    contract_id: str | None = Field(None, description="Bill this contract's item instead of matching by model.")


class LlmTokensData(Body):
    model: str = Field(
        description="The served model; matched to a token item (or a '*' item).", examples=["qwen2.5-72b"]
    )
    input_tokens: int = Field(0, ge=0, examples=[1200])
    output_tokens: int = Field(0, ge=0, examples=[300])
    cached_tokens: int = Field(0, ge=0, examples=[0])
    contract_id: str | None = Field(None, description="Bill this contract's item instead of matching by model.")


class CloudEvent(Body):
    """One usage event. `(source, id)` identifies it: sending it again changes nothing."""

    specversion: Literal["1.0"] = Field(description="CloudEvents version.", examples=["1.0"])
    id: str = Field(description="Unique within its source.", examples=["n7-g3-1759248000"])
    source: str = Field(description="Who measured it; an agent key may only send its own source.", examples=["node/n7"])
    type: Literal["gpu.usage", "llm.tokens"] = Field(
        description="gpu.usage: a GPU allocated to the tenant for [start, end); llm.tokens: token counts at `time`."
    )
    subject: str = Field(description="The tenant id.", examples=["acme"])
    time: str = instant("When it happened (for llm.tokens, what period it bills in).", "2026-10-10T04:00:00+08:00")
    data: GpuUsageData | LlmTokensData


class Accepted(Answer):
    """The batch is durably queued (fsynced): from now on it is never lost nor counted twice."""

    accepted: int = Field(description="Events in the request.", examples=[2])
    batch_id: str = Field(
        description="Follow it at GET /v1/ingest/batches/{batch_id}.", examples=["4edee8f034694a5eb72639de5b39dbd5"]
    )


class BatchReceipt(Answer):
    batch_id: str = Field(examples=["4edee8f034694a5eb72639de5b39dbd5"])
    status: Literal["queued", "recorded", "parked"] = Field(
        description="queued: acknowledged, waiting for a worker; recorded: in the usage log; parked: failed "
        "delivery too often and waits for an operator (GET /v1/ingest/parked)."
    )
    events: int = Field(description="Events in the request.", examples=[2])
    new: int | None = Field(description="Events kept for the first time (null until recorded).", examples=[2])
    duplicates: int | None = Field(
        description="Events already kept before, by (source, id) (null until recorded).", examples=[0]
    )
    accepted_at: str = Field(description="When the API acknowledged it (UTC).", examples=["2026-12-01T22:41:08Z"])
    recorded_at: str | None = Field(description="When a worker recorded it (UTC).", examples=["2026-12-01T22:41:09Z"])


class ParkedBatch(Answer):
    batch_id: str
    attempts: int = Field(description="Deliveries so far.")
    events: int
    first_seen: str
    last_seen: str
    error: str | None


class ParkedBatches(Answer):
    items: list[ParkedBatch]
    next_cursor: None = None
