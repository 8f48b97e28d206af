"""The GPU catalog (SPEC §2, §10): built-in models merged with those operators add."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from sqlalchemy import Connection

from billing import catalog_service
from kashi.api.deps import Operator, Reader, get_conn

ConnDep = Annotated[Connection, Depends(get_conn, scope="function")]
"""Committed before the answer is sent. deps.ConnDep's request scope commits after the answer (FastAPI
>= 0.118), so a client could miss its own write; drop this once deps.ConnDep says scope="function"."""

router = APIRouter(tags=["catalog"])


@router.post("/gpu-models", status_code=201)
def add_gpu_model(conn: ConnDep, principal: Operator, payload: dict = Body(...)) -> dict:
    return catalog_service.add(conn, payload, actor=f"key:{principal.key_id}")


@router.get("/gpu-models")
def list_gpu_models(conn: ConnDep, _: Reader) -> dict:
    return catalog_service.list_models(conn)
