"""The fleet (SPEC §15): every GPU that reported `gpu.status`, its last state, and its retirement."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kashi.api.deps import BillingReader, ConnDep, Operator
from metering import fleet

router = APIRouter(tags=["fleet"])


class FleetGpu(BaseModel):
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
    last_report_start: str = Field(description="Start of the report that ends last (UTC).")
    last_report_end: str = Field(description="End of the report that ends last (UTC).")
    first_seen: str = Field(description="Start of its earliest report: it is in the fleet from then on (UTC).")
    retired_at: str | None = Field(description="When it left the fleet, or null (UTC).")


class FleetPage(BaseModel):
    items: list[FleetGpu]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Retirement(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"at": "2026-11-01T00:00:00+08:00"}]})

    at: AwareDatetime = Field(
        description="When the GPU left the fleet (RFC 3339 with an offset); its capacity stops counting then."
    )


@router.get("/fleet/gpus", response_model=FleetPage)
def list_gpus(
    conn: ConnDep,
    _: BillingReader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=fleet.MAX_PAGE)] = 100,
    node: str | None = None,
    gpu_model: str | None = None,
    state: Annotated[str | None, Query(pattern="^(idle|allocated|down)$")] = None,
) -> dict:
    """The fleet ordered by GPU id, each GPU with its last state, node, model, first report and retirement."""
    return fleet.list_gpus(conn, cursor=cursor, limit=limit, node=node, gpu_model=gpu_model, state=state)


@router.get("/fleet/gpus/{gpu}", response_model=FleetGpu)
def get_gpu(gpu: str, conn: ConnDep, _: BillingReader) -> dict:
    """One GPU of the fleet: its last state, node, model, first report and retirement (operator, finance)."""
    return fleet.get_gpu(conn, gpu)


@router.post("/fleet/gpus/{gpu}/retire", response_model=FleetGpu)
def retire(gpu: str, body: Retirement, conn: ConnDep, principal: Operator) -> dict:
    """Take a GPU out of the fleet from `at` on (once; a GPU that never reported is 404)."""
    return fleet.retire(conn, gpu, body.at, actor=f"key:{principal.key_id}")
