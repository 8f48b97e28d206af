"""Usage events as agents send them: CloudEvents 1.0 in JSON structured mode (SPEC §3).

A batch is validated whole: :func:`validate_batch` either returns one :class:`UsageRecord` per
event or raises :class:`BatchRejected` listing every bad index and field, so that nothing of a
bad batch is ever kept. Records are plain values; they travel on the queue as JSON arrays.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple, NotRequired

import msgspec
from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from kashi.errors import BatchRejected

MAX_EVENTS = 10_000
"""Events per request; more is answered 413."""
MAX_BYTES = 5 * 1024 * 1024
"""Bytes per request body; more is answered 413."""
MAX_INTERVAL = timedelta(hours=24)
"""The longest ``gpu.usage`` interval one event may report."""
MAX_INTERVAL_S = int(MAX_INTERVAL.total_seconds())

GPU_USAGE = "gpu.usage"
LLM_TOKENS = "llm.tokens"
GPU_STATUS = "gpu.status"
"""SPEC §15: a GPU's state over a window; logged and folded into the fleet's rollups, never billed."""
TOKEN_KINDS = ("input", "output", "cached")

# The shapes are TypedDicts checked by pydantic-core with declarative constraints only: no Python
# runs per field, so a batch of 10,000 events validates in a few milliseconds. The rules that
# span fields (end after start, at most 24 h, some tokens) are checked after, in one loop.
Text = Annotated[str, Field(min_length=1, max_length=256)]
Count = Annotated[StrictInt, Field(ge=0, le=2**62)]
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: Any) -> Any:
    """An instant as SPEC §2 writes it: RFC 3339 text with an offset (no epoch numbers, no ``+0800``,
    no missing seconds); pydantic then reads the instant. Only on the full path (an event the fast
    path declined), so one Python call per instant costs nothing that matters."""
    if type(value) is not str or _RFC3339.fullmatch(value) is None:
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 instant with an offset, like 2026-10-01T08:00:00+08:00"
        )
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
Utilization = Annotated[str, Field(pattern=r"^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$")]
"""A decimal string between 0 and 1 (``"0.83"``); JSON numbers are refused (SPEC §2: no floats)."""


_DATA_CONFIG = ConfigDict(extra="forbid")
"""An event's ``data`` holds the fields below and nothing else (SPEC §11: unknown fields are 422
everywhere). The event's own attributes stay open: CloudEvents defines optional ones and extensions."""


class GpuUsageData(TypedDict):
    """``gpu.usage``: the GPU was allocated to the tenant for ``[start, end)``."""

    __pydantic_config__ = _DATA_CONFIG

    gpu: Text
    gpu_model: Text
    start: Instant
    end: Instant
    node: NotRequired[Text]
    utilization: NotRequired[Utilization | None]
    contract_id: NotRequired[Text | None]


class LlmTokensData(TypedDict):
    """``llm.tokens``: token counts of one request or window, at the event's ``time``."""

    __pydantic_config__ = _DATA_CONFIG

    model: Text
    input_tokens: NotRequired[Count]
    output_tokens: NotRequired[Count]
    cached_tokens: NotRequired[Count]
    contract_id: NotRequired[Text | None]


class GpuStatusData(TypedDict):
    """``gpu.status``: the GPU was idle, allocated or down over ``[start, end)`` (SPEC §15)."""

    __pydantic_config__ = _DATA_CONFIG

    gpu: Text
    gpu_model: Text
    start: Instant
    end: Instant
    state: Literal["idle", "allocated", "down"]
    node: NotRequired[Text]
    utilization: NotRequired[Utilization | None]
    reason: NotRequired[Text | None]


class GpuStatusEvent(TypedDict):
    specversion: Literal["1.0"]
    id: Text
    source: Text
    subject: NotRequired[Text]
    time: Instant
    type: Literal["gpu.status"]
    data: GpuStatusData


class GpuUsageEvent(TypedDict):
    specversion: Literal["1.0"]
    id: Text
    source: Text
    subject: Text
    time: Instant
    type: Literal["gpu.usage"]
    data: GpuUsageData


class LlmTokensEvent(TypedDict):
    specversion: Literal["1.0"]
    id: Text
    source: Text
    subject: Text
    time: Instant
    type: Literal["llm.tokens"]
    data: LlmTokensData


UsageEvent = Annotated[GpuUsageEvent | LlmTokensEvent | GpuStatusEvent, Field(discriminator="type")]


class UsageRecord(NamedTuple):
    """One validated event, flattened: instants as UTC epoch seconds, card time in whole seconds.

    ``start`` is floored and ``end`` is floored to the second (card time is counted in whole
    card-seconds, SPEC §2); ``kind`` is ``"gpu"``, ``"tokens"`` or ``"status"`` (``gpu.status``,
    SPEC §15: folded into the fleet's rollups, never billed; ``tenant_id`` is ``""`` when it has no
    subject).
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
        return list(self)

    @classmethod
    def from_wire(cls, row: list) -> UsageRecord:
        return cls._make(row)  # the queued list holds every field, in order

    @classmethod
    def from_log(
        cls, type: str, source: str, id: str, tenant_id: str, event_time: datetime, contract_id: str | None, data: dict
    ) -> UsageRecord:
        """The record ingest built from an event, rebuilt from its ``usage_events`` row (replay)."""
        time = event_time.timestamp()
        if type in (GPU_STATUS, GPU_USAGE):
            start, end = (_epoch(_instant(data[k])) for k in ("start", "end"))
        if type == GPU_STATUS:
            return cls("status", source, id, tenant_id, time, None, data, data["gpu"], data["gpu_model"], start, end)
        if type == GPU_USAGE:
            return cls(
                "gpu", source, id, tenant_id, time, contract_id, data, data["gpu"], data["gpu_model"], start, end
            )
        return cls(
            "tokens",
            source,
            id,
            tenant_id,
            time,
            contract_id,
            data,
            None,
            None,
            0,
            0,
            data["model"],
            data.get("input_tokens", 0),
            data.get("output_tokens", 0),
            data.get("cached_tokens", 0),
        )

    @property
    def tokens(self) -> dict[str, int]:
        return {"input": self.input_tokens, "output": self.output_tokens, "cached": self.cached_tokens}


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp() // 1)


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # RFC 3339 forms Python's parser lacks (e.g. nanoseconds): parse as ingest did
        return _INSTANT.validate_python(text)


_BATCH = TypeAdapter(list[UsageEvent])
_EVENT = TypeAdapter(UsageEvent)
_INSTANT = TypeAdapter(AwareDatetime)
_REASONS = {
    "string_type": "must be a JSON string",
    "string_pattern_mismatch": 'must be a decimal string between 0 and 1, such as "0.83"',
    "int_type": "must be a JSON integer",
    "extra_forbidden": "unknown field",
}


def _field(loc: tuple) -> tuple[int | None, str]:
    parts = [str(p) for p in loc]
    index = int(parts[0]) if parts and parts[0].isdigit() else None
    rest = [p for p in parts[1:] if p not in (GPU_USAGE, LLM_TOKENS, GPU_STATUS)]
    return index, ".".join(rest) or "event"


def _shape_problems(exc: ValidationError, payload: list) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False):
        index, field = _field(err["loc"])
        if err["type"].startswith("union_tag"):
            field = "type"
        if isinstance(err.get("input"), float) and err["type"] in ("string_type", "int_type", "int_from_float"):
            reason = "must not be a JSON float (send a decimal string, or an integer for counts)"
        else:
            reason = _REASONS.get(err["type"], err["msg"])
        details.append({"index": index, "field": field, "reason": reason})
    return details


def _rule_problems(index: int, event: dict) -> list[dict[str, Any]]:
    data = event["data"]
    if event["type"] in (GPU_USAGE, GPU_STATUS):
        if data["end"] <= data["start"]:
            return [{"index": index, "field": "data.end", "reason": "must be after data.start"}]
        if data["end"] - data["start"] > MAX_INTERVAL:
            return [{"index": index, "field": "data.end", "reason": "an interval may be at most 24 h long"}]
    elif not (data.get("input_tokens") or data.get("output_tokens") or data.get("cached_tokens")):
        return [{"index": index, "field": "data", "reason": "at least one token count must be greater than 0"}]
    return []


def _all_problems(exc: ValidationError, payload: list) -> list[dict[str, Any]]:
    """Shape problems, plus the cross-field ones of the events whose shape was right (a bad batch
    is answered with every problem at once; this path is not the hot one)."""
    problems = _shape_problems(exc, payload)
    bad = {p["index"] for p in problems}
    for index, raw in enumerate(payload):
        if index not in bad:
            problems.extend(_rule_problems(index, _EVENT.validate_python(raw)))
    return sorted(problems, key=lambda p: (p["index"] is not None, p["index"] or 0))


def _to_record(event: dict, raw_data: dict) -> UsageRecord:
    # positional and without a kwargs dict: this runs once per event on the API's hot path
    data = event["data"]
    time = event["time"].timestamp()  # an aware datetime's timestamp does not depend on its offset
    contract_id = data.get("contract_id")
    if event["type"] == GPU_STATUS:  # the fleet's rollups (metering.status), never rated
        return UsageRecord(
            "status",
            event["source"],
            event["id"],
            event.get("subject", ""),
            time,
            None,
            raw_data,
            data["gpu"],
            data["gpu_model"],
            _epoch(data["start"]),
            _epoch(data["end"]),
        )
    if event["type"] == GPU_USAGE:
        return UsageRecord(
            "gpu",
            event["source"],
            event["id"],
            event["subject"],
            time,
            contract_id,
            raw_data,
            data["gpu"],
            data["gpu_model"],
            _epoch(data["start"]),
            _epoch(data["end"]),
        )
    return UsageRecord(
        "tokens",
        event["source"],
        event["id"],
        event["subject"],
        time,
        contract_id,
        raw_data,
        None,
        None,
        0,
        0,
        data["model"],
        data.get("input_tokens", 0),
        data.get("output_tokens", 0),
        data.get("cached_tokens", 0),
    )


def validate_batch(payload: Any) -> list[UsageRecord]:
    """Validate a decoded JSON batch (a list of CloudEvents, or one event) whole.

    Raises :class:`BatchRejected` with every bad index and field; JSON floats are rejected where
    the SPEC says strings or integers. A ``(source, id)`` repeated inside one batch is kept once.
    Each record keeps the event's ``data`` as it arrived (the log stores what was sent).
    """
    return _validate_full(payload)


def validate_rows(payload: Any) -> list[list]:
    """:func:`validate_batch`, answering the records' :meth:`UsageRecord.to_wire` rows (what the
    queue carries); a request body goes to :func:`fast_rows` first (:func:`metering.ingest.parse_rows`)."""
    return [r.to_wire() for r in _validate_full(payload)]


def _validate_full(payload: Any) -> list[UsageRecord]:
    """The one validator: pydantic checks the shapes, then the cross-field rules; every problem named."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise BatchRejected([{"index": None, "field": "body", "reason": "must be a JSON array of CloudEvents"}])
    if not payload:
        raise BatchRejected([{"index": None, "field": "body", "reason": "the batch is empty"}])
    try:
        events = _BATCH.validate_python(payload)
    except ValidationError as exc:
        raise BatchRejected(_all_problems(exc, payload)) from None
    problems = [p for i, event in enumerate(events) for p in _rule_problems(i, event)]
    if problems:
        raise BatchRejected(problems)
    records, seen = [], set()
    for event, raw in zip(events, payload, strict=True):
        key = (event["source"], event["id"])
        if key not in seen:
            seen.add(key)
            records.append(_to_record(event, raw["data"]))
    return records


# The fast path. Agents send the plain forms: exact JSON types, known keys, instants as
# ``YYYY-MM-DDThh:mm:ss[.ffffff](Z|±hh:mm)``. A request body of only such events is decoded and its
# shapes checked by msgspec (in C, against the structs below: types, lengths, ranges, known keys,
# the ``type`` tag), the instants and cross-field rules here, and the rows built at about a
# microsecond an event; anything else — any doubt, any problem — returns None and the body goes
# through :func:`_validate_full`, the one validator, which alone answers rejections. So the fast
# path never rejects and never accepts what the full one would not, with the same values
# (tests/unit/metering/test_events_fast_path.py checks it by property).
_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)  # hours, minutes and offsets bounded here: datetime.fromisoformat would take "+00:60" as one hour
_UTILIZATION = re.compile(r"0(?:\.[0-9]+)?|1(?:\.0+)?|\.[0-9]+")  # Utilization's pattern, whole-string
_INSTANTS: dict[str, tuple[int, float, int]] = {}
"""Parsed instants by their text (an agent's windows share their bounds): pure, so safely shared."""
_UTILIZATIONS: set[str] = set()
"""Utilization texts already matched (a few hundred distinct values in practice)."""
_CACHE_MAX = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_INTERVAL_US = MAX_INTERVAL // _MICROSECOND

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
_Instant = str  # RFC 3339 in the plain form: checked (and cached) by _instant_of
_Unset = msgspec.UnsetType
_UNSET = msgspec.UNSET


class _GpuData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    gpu: _Text
    gpu_model: _Text
    start: _Instant
    end: _Instant
    node: _Text | _Unset = _UNSET
    utilization: str | None | _Unset = _UNSET
    contract_id: _Text | None | _Unset = _UNSET


class _StatusData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    gpu: _Text
    gpu_model: _Text
    start: _Instant
    end: _Instant
    state: Literal["idle", "allocated", "down"]
    node: _Text | _Unset = _UNSET
    utilization: str | None | _Unset = _UNSET
    reason: _Text | None | _Unset = _UNSET


class _TokensData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    model: _Text
    input_tokens: _Count | _Unset = _UNSET
    output_tokens: _Count | _Unset = _UNSET
    cached_tokens: _Count | _Unset = _UNSET
    contract_id: _Text | None | _Unset = _UNSET


class _GpuEvent(msgspec.Struct, tag_field="type", tag=GPU_USAGE, forbid_unknown_fields=True, gc=False):
    specversion: Literal["1.0"]
    id: _Text
    source: _Text
    subject: _Text
    time: _Instant
    data: _GpuData


class _TokensEvent(msgspec.Struct, tag_field="type", tag=LLM_TOKENS, forbid_unknown_fields=True, gc=False):
    specversion: Literal["1.0"]
    id: _Text
    source: _Text
    subject: _Text
    time: _Instant
    data: _TokensData


class _StatusEvent(msgspec.Struct, tag_field="type", tag=GPU_STATUS, forbid_unknown_fields=True, gc=False):
    specversion: Literal["1.0"]
    id: _Text
    source: _Text
    time: _Instant
    data: _StatusData
    subject: _Text | _Unset = _UNSET


_PLAIN_BATCH = msgspec.json.Decoder(list[_GpuEvent | _TokensEvent | _StatusEvent])


def _instant_of(text: str) -> tuple[int, float, int] | None:
    """``(epoch microseconds, epoch seconds, floored epoch second)`` of a plain RFC 3339 text, else
    None. Microseconds are exact integers: the window rules compare them as the full path compares
    datetimes (comparing aware datetimes costs more than the rest of an event's checks)."""
    if _STAMP.fullmatch(text) is None:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    stamp = instant.timestamp()
    if len(_INSTANTS) >= _CACHE_MAX:
        _INSTANTS.clear()
    found = _INSTANTS[text] = ((instant - _EPOCH) // _MICROSECOND, stamp, _epoch(instant))
    return found


def _plain_instant(text: str) -> tuple[int, float, int] | None:
    """:func:`_instant_of`, from the cache when the text was seen before (an agent's windows share their bounds)."""
    return _INSTANTS.get(text) or _instant_of(text)


def _window(data: _GpuData | _StatusData) -> tuple[int, int] | None:
    """The floored ``(start, end)`` of a plain, valid window (with a valid ``utilization``), else None."""
    start, end = _plain_instant(data.start), _plain_instant(data.end)
    if start is None or end is None or not 0 < end[0] - start[0] <= _MAX_INTERVAL_US:
        return None
    utilization = data.utilization
    if type(utilization) is str and utilization not in _UTILIZATIONS:
        if _UTILIZATION.fullmatch(utilization) is None:
            return None
        if len(_UTILIZATIONS) >= _CACHE_MAX:
            _UTILIZATIONS.clear()
        _UTILIZATIONS.add(utilization)
    return start[2], end[2]


def fast_rows(body: bytes) -> tuple[list[list], int] | None:
    """The rows of a request body holding a JSON array of plain, valid events (a repeated
    ``(source, id)`` kept once) and the number of events it held; None to leave it to the full
    validator. ``data`` is rebuilt from the structs with what was sent and only that (absent keys
    absent, explicit nulls kept); its key order is the struct's (the log never kept key order)."""
    if b"\\u0000" in body:  # PostgreSQL stores no NUL: the full path names it
        return None
    try:
        events = _PLAIN_BATCH.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not events or len(events) > MAX_EVENTS:
        return None
    rows, seen, to_builtins = [], set(), msgspec.to_builtins
    for event in events:  # every event checked, a repeat too (the full validator checks each)
        time = _plain_instant(event.time)
        if time is None:
            return None
        data = event.data
        if type(event) is _TokensEvent:
            counts = [0 if n is _UNSET else n for n in (data.input_tokens, data.output_tokens, data.cached_tokens)]
            if not any(counts):
                return None
            contract_id = None if data.contract_id is _UNSET else data.contract_id
            row = ["tokens", event.source, event.id, event.subject, time[1], contract_id, to_builtins(data)]
            row += [None, None, 0, 0, data.model, *counts]
        else:
            window = _window(data)
            if window is None:
                return None
            if type(event) is _GpuEvent:
                kind, subject = "gpu", event.subject
                contract_id = None if data.contract_id is _UNSET else data.contract_id
            else:
                kind, subject, contract_id = "status", "" if event.subject is _UNSET else event.subject, None
            row = [kind, event.source, event.id, subject, time[1], contract_id, to_builtins(data), data.gpu]
            row += [data.gpu_model, window[0], window[1], None, 0, 0, 0]
        key = (row[1], row[2])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows, len(events)
