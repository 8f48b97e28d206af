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
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.core.catalog import DEFAULT_CATALOG, Catalog, GpuModel
from billing.core.money import PRICE_PLACES, parse_amount
from kashi import streams
from kashi.errors import Conflict, ValidationFailed, VersionConflict
from kashi.tables import gpu_model_prices, gpu_models, stream_events

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


def model_json(model: GpuModel, list_price: Decimal | None = None) -> dict:
    """A model's JSON; ``list_price_per_card_hour`` (CNY) only once the operator has set one."""
    document = {
        "name": model.name,
        "fp16_tflops": format(model.fp16_tflops, "f"),
        "source": model.source,
        "builtin": model.name in DEFAULT_CATALOG,
    }
    if list_price is not None:
        document["list_price_per_card_hour"] = format(list_price, "f")
    return document


PRICE_FIELD = "list_price_per_card_hour"
PRICED = "GpuModelListPriced"


def list_prices(conn: Connection) -> dict[str, Decimal]:
    """Each model's list price per card-hour (CNY), where one was set: what an idle card-hour forgoes."""
    return {r.name: Decimal(r.list_price_per_card_hour) for r in conn.execute(select(gpu_model_prices))}


def _parse_price(payload: Mapping) -> Decimal:
    price = parse_amount(payload[PRICE_FIELD], places=PRICE_PLACES, field=PRICE_FIELD)
    if price < 0:
        raise ValidationFailed.of(PRICE_FIELD, "must not be negative")
    return price


def _append(conn: Connection, events: list[tuple[str, dict]], actor: str) -> None:
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        try:
            streams.append(conn, STREAM, streams.current_version(conn, STREAM), events, actor)
            return
        except VersionConflict:
            if attempt == APPEND_ATTEMPTS:
                raise


def _project_price(conn: Connection, name: str, price: Decimal) -> None:
    conn.execute(
        pg_insert(gpu_model_prices)
        .values(name=name, list_price_per_card_hour=price)
        .on_conflict_do_update(index_elements=["name"], set_={"list_price_per_card_hour": price})
    )


def is_price_update(conn: Connection, payload: object) -> bool:
    """A POST that names a model the catalog knows and gives its list price: a price change, not an addition."""
    if not isinstance(payload, Mapping) or PRICE_FIELD not in payload or not isinstance(payload.get("name"), str):
        return False  # a name that is no string is the addition's 422 to name
    return payload["name"] in catalog(conn)


def set_list_price(conn: Connection, payload: Mapping, *, actor: str) -> dict:
    """Set (or change) the list price of a model the catalog knows: ``GpuModelListPriced`` on the
    ``catalog`` stream. The payload may repeat the model's `fp16_tflops` and `source`; a different
    figure is a 409 (a model's TFLOPS never change)."""
    problems = [
        {"field": key, "reason": "unknown field"}
        for key in sorted(set(payload) - {"name", "fp16_tflops", "source", PRICE_FIELD})
    ]
    if problems:
        raise ValidationFailed(f"GPU model has {len(problems)} invalid field(s)", problems)
    model = catalog(conn).get(payload["name"])
    if "fp16_tflops" in payload:
        given = parse_model({"name": model.name, "fp16_tflops": payload["fp16_tflops"], "source": model.source})
        if given.fp16_tflops != model.fp16_tflops:
            raise Conflict(
                f"GPU model {model.name} is already in the catalog with {model.fp16_tflops} TFLOPS",
                [{"field": "fp16_tflops", "reason": "already defined; a model's figure never changes"}],
            )
    price = _parse_price(payload)
    _append(conn, [(PRICED, {"name": model.name, PRICE_FIELD: format(price, "f")})], actor)
    _project_price(conn, model.name, price)
    return model_json(model, price)


def add(conn: Connection, payload: object, *, actor: str) -> dict:
    """Append ``GpuModelAdded`` to the ``catalog`` stream and project it; 409 for a known name.

    An optional ``list_price_per_card_hour`` (CNY per card-hour, for the utilisation report's idle
    value) is recorded with it as ``GpuModelListPriced``; sent for a known name, it only sets the price
    (`set_list_price`)."""
    price, problems = None, []
    if isinstance(payload, Mapping) and PRICE_FIELD in payload:
        try:
            price = _parse_price(payload)
        except ValidationFailed as exc:  # named together with the model's own bad fields
            problems = exc.details
        payload = {k: v for k, v in payload.items() if k != PRICE_FIELD}
    try:
        model = parse_model(payload)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, problems + exc.details) from None
    if problems:
        raise ValidationFailed("invalid GPU model", problems)
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
    if price is not None:
        _append(conn, [(PRICED, {"name": model.name, PRICE_FIELD: format(price, "f")})], actor)
        _project_price(conn, model.name, price)
    return model_json(model, price)


def list_models(conn: Connection) -> dict:
    """Every model, built in or added, by name: ``{"items": [...], "next_cursor": null}``."""
    prices = list_prices(conn)
    return {"items": [model_json(model, prices.get(model.name)) for model in catalog(conn)], "next_cursor": None}


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
    conn.execute(delete(gpu_model_prices))
    priced = conn.execute(
        select(stream_events.c.data)
        .where(stream_events.c.stream_id == STREAM)
        .where(stream_events.c.type == PRICED)
        .order_by(stream_events.c.version)
    ).all()
    prices = {row.data["name"]: Decimal(row.data[PRICE_FIELD]) for row in priced}
    for name, price in prices.items():
        _project_price(conn, name, price)
    return len(models)
