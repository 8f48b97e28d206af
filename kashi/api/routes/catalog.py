"""The GPU catalog: built-in models merged with those operators add."""

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from billing.services import catalog as catalog_service
from kashi.api.deps import ConnDep, Operator, Reader

router = APIRouter(tags=["catalog"])


@router.post("/gpu-models", status_code=201)
def add_gpu_model(conn: ConnDep, principal: Operator, payload: dict = Body(...)):
    """Operators only. Add a model the built-in catalog lacks (201), or set the `list_price_per_card_hour`
    of a known one (200). A model's TFLOPS never change (409)."""
    actor = f"key:{principal.key_id}"
    if catalog_service.is_price_update(conn, payload):
        return JSONResponse(catalog_service.set_list_price(conn, payload, actor=actor), status_code=200)
    return catalog_service.add(conn, payload, actor=actor)


@router.get("/gpu-models")
def list_gpu_models(conn: ConnDep, _: Reader) -> dict:
    """Built-in models and those operators added, by name, with their FP16 TFLOPS."""
    return catalog_service.list_models(conn)
