"""Service: the GPU catalog (SPEC §2, §10 ``POST/GET /v1/gpu-models``), an event stream ``catalog``.

The built-in ``DEFAULT_CATALOG`` is merged with the models operators add; each addition is a
``GpuModelAdded`` event on the one ``catalog`` stream, projected into ``gpu_models``. A name is
defined once: adding a name the catalog knows (built in or added) is a 409, so a model's TFLOPS
never changes under contracts that were priced with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import Connection, delete, insert, select

from billing.core.catalog import DEFAULT_CATALOG, Catalog, GpuModel
from billing.core.money import PRICE_PLACES, parse_amount
from kashi import streams
from kashi.errors import Conflict, ValidationFailed, VersionConflict
from kashi.tables import gpu_models, stream_events

STREAM = "catalog"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
APPEND_ATTEMPTS = 3
"""Additions of different models race only for the stream's next version: retried this many times."""


def parse_model(payload: object) -> GpuModel:
    """A GpuModel from ``{"name", "fp16_tflops", "source"}``; every bad field named at once.

    fp16_tflops: FP16 dense TFLOPS per card: a decimal string, an int, or a JSON number (a
    throughput figure, not money, so a float such as 989.5 is taken at its shortest decimal form).
    """
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = [
        {"field": key, "reason": "unknown field"} for key in sorted(set(payload) - {"name", "fp16_tflops", "source"})
    ]
    name, source, tflops = payload.get("name"), payload.get("source"), None
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        problems.append({"field": "name", "reason": "letters, digits and . _ + - only, at most 64, such as H100-SXM"})
    if not isinstance(source, str) or not source.strip() or len(source) > 500:
        problems.append({"field": "source", "reason": "must say where the figure comes from (1–500 characters)"})
    if "fp16_tflops" not in payload:
        problems.append({"field": "fp16_tflops", "reason": "is required"})
    else:
        try:
            value = payload["fp16_tflops"]
            if isinstance(value, float) and math.isfinite(value):
                value = repr(value)  # 989.5 -> "989.5": the decimal the sender wrote
            tflops = parse_amount(value, places=PRICE_PLACES, field="fp16_tflops")
        except ValidationFailed as error:
            problems.extend(error.details)
        if tflops is not None and tflops <= 0:
            problems.append({"field": "fp16_tflops", "reason": "must be greater than 0"})
    if problems:
        raise ValidationFailed(f"GPU model has {len(problems)} invalid field(s)", problems)
    return GpuModel(name, tflops, source.strip())


def catalog(conn: Connection) -> Catalog:
    """The built-in catalog merged with the models operators added: what contracts are validated with."""
    rows = conn.execute(select(gpu_models)).all()
    return Catalog.of(
        [*DEFAULT_CATALOG.models.values(), *(GpuModel(r.name, Decimal(r.fp16_tflops), r.source) for r in rows)]
    )


def model_json(model: GpuModel) -> dict:
    return {
        "name": model.name,
        "fp16_tflops": format(model.fp16_tflops, "f"),
        "source": model.source,
        "builtin": model.name in DEFAULT_CATALOG,
    }


def add(conn: Connection, payload: object, *, actor: str) -> dict:
    """Append ``GpuModelAdded`` to the ``catalog`` stream and project it; 409 for a known name."""
    model = parse_model(payload)
    data = {"name": model.name, "fp16_tflops": format(model.fp16_tflops, "f"), "source": model.source}
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        if model.name in catalog(conn):
            raise Conflict(
                f"GPU model {model.name} is already in the catalog",
                [{"field": "name", "reason": "already defined; a model's figure never changes"}],
            )
        try:
            streams.append(conn, STREAM, streams.current_version(conn, STREAM), [("GpuModelAdded", data)], actor)
            break
        except VersionConflict:
            if attempt == APPEND_ATTEMPTS:
                raise
    conn.execute(insert(gpu_models).values(**data))
    return model_json(model)


def list_models(conn: Connection) -> dict:
    """Every model, built in or added, by name: ``{"items": [...], "next_cursor": null}``."""
    return {"items": [model_json(model) for model in catalog(conn)], "next_cursor": None}


def rebuild_projection(conn: Connection) -> int:
    """Drop ``gpu_models`` and refold the ``catalog`` stream into it (``kashi replay``); returns the count."""
    conn.execute(delete(gpu_models))
    rows = conn.execute(
        select(stream_events.c.data)
        .where(stream_events.c.stream_id == STREAM)
        .where(stream_events.c.type == "GpuModelAdded")
        .order_by(stream_events.c.version)
    ).all()
    models = {row.data["name"]: row.data for row in rows}
    if models:
        conn.execute(insert(gpu_models), list(models.values()))
    return len(models)
