"""Usage events in (CloudEvents 1.0, structured or batch mode), their receipts, parked batches."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Body, Single, instant


class GpuUsageData(Body):
    """`data` of a gpu.usage event: one GPU allocated to the tenant for [start, end)."""

    node: str | None = Field(None, description="The node (machine) the GPU is in.", examples=["n7"])
    gpu: str = Field(description="The GPU's stable id (UUID or serial).", examples=["GPU-5f3c01"])
    gpu_model: str = Field(description="A catalog model name (GET /v1/gpu-models).", examples=["H100-SXM"])
    start: str = instant("Start of the allocation [start, end).", "2026-10-10T00:00:00+08:00")
    end: str = instant("End of the allocation; after start, at most 24 h later.", "2026-10-10T04:00:00+08:00")
    utilization: str | None = Field(
        None, description="0–1, optional: feeds utilisation reports, not the bill.", examples=["0.83"]
    )
    contract_id: str | None = Field(
        None, description="Bill this contract's item instead of matching by model.", examples=["c-acme-1"]
    )


class GpuStatusData(Body):
    """`data` of a gpu.status event: a GPU's state over [start, end), for the fleet's utilisation (never billed)."""

    node: str | None = Field(None, description="The node (machine) the GPU is in.", examples=["n7"])
    gpu: str = Field(description="The GPU's stable id (UUID or serial).", examples=["GPU-5f3c01"])
    gpu_model: str = Field(description="A catalog model name.", examples=["H100-SXM"])
    start: str = instant("Start of the window [start, end).", "2026-10-10T00:00:00+08:00")
    end: str = instant("End of the window; after start, at most 24 h later.", "2026-10-10T01:00:00+08:00")
    state: Literal["idle", "allocated", "down"] = Field(description="The GPU's state over the window.")
    utilization: str | None = Field(None, description="0–1, optional: how busy it was.", examples=["0.83"])
    reason: str | None = Field(
        None, description="Why it was down (an XID, off the bus …).", examples=["XID 79 (DCGM_FI_DEV_XID_ERRORS)"]
    )


class LlmTokensData(Body):
    """`data` of an llm.tokens event: tokens served to the tenant at the event's `time`."""

    model: str = Field(
        description="The served model; matched to a token item (or a '*' item).", examples=["qwen2.5-72b"]
    )
    input_tokens: int = Field(0, ge=0, description="Input (prompt) tokens, not cached.", examples=[1200])
    output_tokens: int = Field(0, ge=0, description="Output (completion) tokens.", examples=[300])
    cached_tokens: int = Field(0, ge=0, description="Input tokens served from the prompt cache.", examples=[0])
    contract_id: str | None = Field(
        None, description="Bill this contract's item instead of matching by model.", examples=["c-acme-1"]
    )


class CloudEvent(Body):
    """One usage event. `(source, id)` identifies it: sending it again changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "specversion": "1.0",
                    "id": "n7-g3-1759248000",
                    "source": "node/n7",
                    "type": "gpu.usage",
                    "subject": "acme",
                    "time": "2026-10-10T04:00:00+08:00",
                    "data": {
                        "node": "n7",
                        "gpu": "GPU-5f3c01",
                        "gpu_model": "H100-SXM",
                        "start": "2026-10-10T00:00:00+08:00",
                        "end": "2026-10-10T04:00:00+08:00",
                    },
                }
            ]
        },
    )

    specversion: Literal["1.0"] = Field(description="CloudEvents version.", examples=["1.0"])
    id: str = Field(description="Unique within its source.", examples=["n7-g3-1759248000"])
    source: str = Field(description="Who measured it; an agent key may only send its own source.", examples=["node/n7"])
    type: Literal["gpu.usage", "llm.tokens", "gpu.status"] = Field(
        description="gpu.usage: a GPU allocated to the tenant for [start, end); llm.tokens: token counts at "
        "`time`; gpu.status: a GPU's state (idle, allocated, down) over a window, for the fleet."
    )
    subject: str | None = Field(
        None, description="The tenant id (required for gpu.usage and llm.tokens).", examples=["acme"]
    )
    time: str = instant("When it happened (for llm.tokens, what period it bills in).", "2026-10-10T04:00:00+08:00")
    data: GpuUsageData | LlmTokensData | GpuStatusData = Field(description="What was measured, by `type`.")


class Accepted(Answer):
    """The batch is durably queued (fsynced): from now on it is never lost nor counted twice."""

    accepted: int = Field(description="Events in the request.", examples=[2])
    batch_id: str = Field(
        description="Follow it at GET /v1/ingest/batches/{batch_id}.", examples=["4edee8f034694a5eb72639de5b39dbd5"]
    )


class BatchReceipt(Answer):
    """What became of an acknowledged batch."""

    batch_id: str = Field(description="The id the 202 answered.", examples=["4edee8f034694a5eb72639de5b39dbd5"])
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
    """A batch that failed delivery too often: kept whole, never dropped, until an operator requeues it."""

    batch_id: str = Field(description="The id its 202 answered.", examples=["4edee8f034694a5eb72639de5b39dbd5"])
    attempts: int = Field(description="Deliveries so far.", examples=[6])
    events: int = Field(description="Events in the batch.", examples=[120])
    first_seen: str = Field(description="First delivery to a worker (UTC).", examples=["2026-12-01T22:41:09Z"])
    last_seen: str = Field(description="Latest delivery (UTC).", examples=["2026-12-01T22:43:40Z"])
    error: str | None = Field(
        description="Why it was parked.", examples=["delivered 6 times without completing; parked for an operator"]
    )


class ParkedBatches(Single):
    items: list[ParkedBatch] = Field(description="Parked batches, oldest first.")


class Requeued(Answer):
    """A parked batch put back on the queue: its receipt says queued until a worker records it."""

    batch_id: str = Field(description="The batch.", examples=["4edee8f034694a5eb72639de5b39dbd5"])
    status: Literal["queued"] = Field(description="Back on the ingest queue.")
    events: int = Field(description="Events in the batch.", examples=[120])
    attempts: int = Field(description="Deliveries it had when it was parked (it starts again from 0).", examples=[6])
    error: str | None = Field(
        description="Why it had been parked.", examples=["delivered 6 times without completing; parked for an operator"]
    )
    requeued_at: str = Field(description="When (UTC).", examples=["2026-12-02T08:00:00Z"])
    requeued_by: str = Field(description="Who: the operator's key id.", examples=["key:8232b36ac6fb"])
