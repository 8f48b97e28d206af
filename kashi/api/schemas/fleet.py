"""The fleet: every GPU that reported `gpu.status`, its last state, and its retirement."""

from __future__ import annotations

from pydantic import AwareDatetime, ConfigDict, Field

from kashi.api.schemas.common import Answer, Body, Page


class FleetGpu(Answer):
    gpu: str = Field(
        description="The GPU's id as its agent reports it (a UUID or serial).",
        examples=["GPU-5f3c2a1e-0000-0000-0000-000000000001"],
    )
    node: str | None = Field(description="The node of its latest report.", examples=["gpu-07"])
    gpu_model: str = Field(description="The catalog model of its latest report.", examples=["H100-SXM"])
    state: str = Field(description="State of the report that ends last: idle, allocated or down.", examples=["idle"])
    reason: str | None = Field(
        description="Why it was down, when it was.", examples=["XID 79 (DCGM_FI_DEV_XID_ERRORS)"]
    )
    last_report_start: str = Field(
        description="Start of the report that ends last (UTC).", examples=["2026-10-31T15:00:00Z"]
    )
    last_report_end: str = Field(
        description="End of the report that ends last (UTC).", examples=["2026-10-31T16:00:00Z"]
    )
    first_seen: str = Field(
        description="Start of its earliest report: it is in the fleet from then on (UTC).",
        examples=["2026-09-30T16:00:00Z"],
    )
    retired_at: str | None = Field(description="When it left the fleet, or null (UTC).", examples=[None])


class FleetPage(Page):
    items: list[FleetGpu] = Field(description="GPUs by id.")


class Retirement(Body):
    """When a GPU leaves the fleet."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"at": "2026-11-01T00:00:00+08:00"}]})

    at: AwareDatetime = Field(
        description="When the GPU left the fleet (RFC 3339 with an offset); its capacity stops counting then.",
        examples=["2026-11-01T00:00:00+08:00"],
    )
