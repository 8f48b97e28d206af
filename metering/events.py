"""Usage events as agents send them: CloudEvents 1.0 in JSON structured mode (SPEC §3).

A batch is validated whole: :func:`validate_batch` either returns one :class:`UsageRecord` per
event or raises :class:`BatchRejected` listing every bad index and field, so that nothing of a
bad batch is ever kept. Records are plain values; they travel on the queue as JSON arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

MAX_EVENTS = 10_000
"""Events per request; more is answered 413."""
MAX_BYTES = 5 * 1024 * 1024
"""Bytes per request body; more is answered 413."""
MAX_INTERVAL = timedelta(hours=24)
"""The longest ``gpu.usage`` interval one event may report."""

GPU_USAGE = "gpu.usage"
LLM_TOKENS = "llm.tokens"
TOKEN_KINDS = ("input", "output", "cached")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("must be a JSON string holding a decimal number, not a JSON float")
    return value


def _utilization(value: Any) -> Any:
    _no_float(value)
    if isinstance(value, bool):
        raise ValueError("must be a decimal string between 0 and 1")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("must be a decimal string between 0 and 1") from exc
    if not number.is_finite() or not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return number


Text = Annotated[str, Field(min_length=1, max_length=256)]
Count = Annotated[StrictInt, Field(ge=0)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    contract_id: Text | None = None


class GpuUsageData(_Data):
    """``gpu.usage``: the GPU was allocated to the tenant for ``[start, end)``."""

    node: Text | None = None
    gpu: Text
    gpu_model: Text
    start: AwareDatetime
    end: AwareDatetime
    utilization: Annotated[Decimal | None, BeforeValidator(_utilization)] = None

    @model_validator(mode="after")
    def _interval(self) -> GpuUsageData:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_INTERVAL:
            raise ValueError("an interval may be at most 24 h long")
        return self


class LlmTokensData(_Data):
    """``llm.tokens``: token counts of one request or window, at the event's ``time``."""

    model: Text
    input_tokens: Count = 0
    output_tokens: Count = 0
    cached_tokens: Count = 0

    @model_validator(mode="after")
    def _some_tokens(self) -> LlmTokensData:
        if not (self.input_tokens or self.output_tokens or self.cached_tokens):
            raise ValueError("at least one token count must be greater than 0")
        return self


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    specversion: Literal["1.0"]
    id: Text
    source: Text
    subject: Text
    time: AwareDatetime


class GpuUsageEvent(_Envelope):
    type: Literal["gpu.usage"]
    data: GpuUsageData


class LlmTokensEvent(_Envelope):
    type: Literal["llm.tokens"]
    data: LlmTokensData


UsageEvent = Annotated[GpuUsageEvent | LlmTokensEvent, Field(discriminator="type")]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One validated event, flattened: instants as UTC epoch seconds, card time in whole seconds.

    ``start`` is floored and ``end`` is floored to the second (card time is counted in whole
    card-seconds, SPEC §2); ``kind`` is ``"gpu"`` or ``"tokens"``.
    """

    kind: str
    source: str
    id: str
    tenant_id: str
    time: float
    contract_id: str | None
    data: dict
    gpu: str | None = None
    gpu_model: str | None = None
    start: int = 0
    end: int = 0
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    def to_wire(self) -> list:
        return [self.kind, self.source, self.id, self.tenant_id, self.time, self.contract_id, self.data,
                self.gpu, self.gpu_model, self.start, self.end, self.model, self.input_tokens,
                self.output_tokens, self.cached_tokens]

    @classmethod
    def from_wire(cls, row: list) -> UsageRecord:
        return cls(*row)

    @property
    def tokens(self) -> dict[str, int]:
        return {"input": self.input_tokens, "output": self.output_tokens, "cached": self.cached_tokens}


class BatchRejected(ValueError):
    """The batch is invalid; ``details`` lists ``{"index", "field", "reason"}`` for each problem."""

    def __init__(self, details: list[dict[str, Any]]):
        super().__init__(f"{len(details)} problem(s) in the batch")
        self.details = details


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp() // 1)


def _to_record(event: GpuUsageEvent | LlmTokensEvent) -> UsageRecord:
    # positional and without a kwargs dict: this runs once per event on the API's hot path
    data = event.data
    # what ``data.model_dump(mode="json", exclude_none=True)`` returns, without its Python wrapper
    dumped = data.__pydantic_serializer__.to_python(data, mode="json", exclude_none=True)
    time = event.time.timestamp()  # an aware datetime's timestamp does not depend on its offset
    if isinstance(data, GpuUsageData):
        return UsageRecord("gpu", event.source, event.id, event.subject, time, data.contract_id, dumped,
                           data.gpu, data.gpu_model, _epoch(data.start), _epoch(data.end))
    return UsageRecord("tokens", event.source, event.id, event.subject, time, data.contract_id, dumped,
                       None, None, 0, 0, data.model, data.input_tokens, data.output_tokens, data.cached_tokens)


_adapter_cache: dict[str, Any] = {}


def _adapter():
    from pydantic import TypeAdapter

    if "batch" not in _adapter_cache:
        _adapter_cache["batch"] = TypeAdapter(list[UsageEvent])
    return _adapter_cache["batch"]


def _field(loc: tuple) -> tuple[int | None, str]:
    parts = [str(p) for p in loc]
    index = int(parts[0]) if parts and parts[0].isdigit() else None
    rest = [p for p in parts[1:] if p not in ("gpu.usage", "llm.tokens")]
    return index, ".".join(rest) or "event"


def validate_batch(payload: Any) -> list[UsageRecord]:
    """Validate a decoded JSON batch (a list of CloudEvents, or one event) whole.

    Raises :class:`BatchRejected` with every bad index and field; JSON floats are rejected where
    the SPEC says strings or integers. A ``(source, id)`` repeated inside one batch is kept once.
    """
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise BatchRejected([{"index": None, "field": "body", "reason": "must be a JSON array of CloudEvents"}])
    if not payload:
        raise BatchRejected([{"index": None, "field": "body", "reason": "the batch is empty"}])
    try:
        events = _adapter().validate_python(payload)
    except ValidationError as exc:
        details = []
        for err in exc.errors(include_url=False, include_input=False):
            index, field = _field(err["loc"])
            if err["type"].startswith("union_tag"):
                field = "type"
            reason = err["msg"].removeprefix("Value error, ")
            details.append({"index": index, "field": field, "reason": reason})
        raise BatchRejected(details) from None
    records, seen = [], set()
    for event in events:
        key = (event.source, event.id)
        if key not in seen:
            seen.add(key)
            records.append(_to_record(event))
    return records
