"""The fleet (SPEC §15): every GPU that reported `gpu.status`, its last state, and its retirement."""

from typing import Annotated

from fastapi import APIRouter, Query

from kashi.api.deps import BillingReader, ConnDep, Operator
from kashi.api.schemas.fleet import Retirement
from metering import fleet

router = APIRouter(tags=["fleet"])


@router.get("/fleet/gpus")
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


@router.get("/fleet/gpus/{gpu}")
def get_gpu(gpu: str, conn: ConnDep, _: BillingReader) -> dict:
    """One GPU of the fleet: its last state, node, model, first report and retirement (operator, finance)."""
    return fleet.get_gpu(conn, gpu)


@router.post("/fleet/gpus/{gpu}/retire")
def retire(gpu: str, body: Retirement, conn: ConnDep, principal: Operator) -> dict:
    """Take a GPU out of the fleet from `at` on (once; a GPU that never reported is 404)."""
    return fleet.retire(conn, gpu, body.at, actor=f"key:{principal.key_id}")
