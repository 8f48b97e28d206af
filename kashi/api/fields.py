"""Field types shared by request bodies: money as a decimal string (an integer accepted), never a float."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, WithJsonSchema


def _money(value: object) -> object:
    if isinstance(value, bool | float):
        raise ValueError('must be a decimal string such as "5000.00" (JSON numbers with a fraction are refused)')
    if isinstance(value, int):
        return str(value)
    return value


Money = Annotated[
    str,
    BeforeValidator(_money),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["5000.00"]}),
]
"""A decimal string ("4800.00"); an integer is read as its digits; a float is a 422."""


BODIES: dict[str, type[BaseModel]] = {}
"""Models named by `body_schema`; `kashi.api.openapi` adds each to the schema's components."""


def body_schema(model: type[BaseModel]) -> dict:
    """`openapi_extra` documenting a JSON body by `model`, for routes whose service validates the raw
    body itself (so one 422 names every bad field, unknown ones included)."""
    BODIES[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
