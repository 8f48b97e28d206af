"""The GPU catalog: built-in models merged with those operators add."""


from fastapi import APIRouter, Body

from billing.services import catalog as catalog_service
from kashi.api.deps import ConnDep, Operator, Reader

router = APIRouter(tags=["catalog"])


@router.post("/gpu-models", status_code=201)
def add_gpu_model(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    return catalog_service.add(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/gpu-models")
def list_gpu_models(conn: ConnDep, _: Reader) -> dict:
    return catalog_service.list_models(conn)
