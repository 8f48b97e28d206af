"""The compact usage log's row format: a :class:`UsageRecord` ↔ one narrow ``usage_log`` row (issue 17).

Pure: names (source, tenant, contract, GPU, model, node, id prefix) are passed in and out as
dictionary numbers by the caller (``metering.names``). A row keeps every fact of the event once:

- the dedup key ``(source_no, id_prefix_no, id_suffix)``: the id split where what changes from one
  event of an agent to the next begins (:func:`split_id`: ``node7-GPU-…-1759276800`` → prefix
  ``node7-GPU-…-``, a dictionary number, and ``1759276800``), so an agent's ids cost a few bytes
  each while the key stays exact (no hash, no collision);
- what billing reads as columns: ``kind`` (with two bits telling how the interval's instants were
  written), tenant, contract, event time, GPU, model, node, start and length of the interval,
  utilisation (hundredths in two bytes when written ``0.dd``), token counts;
- ``rest``: whatever of ``data`` the columns cannot give back exactly (an explicit ``null``, an
  instant not written in one of the two canonical UTC forms, a status's ``state`` and ``reason``),
  usually nothing.

:func:`data_of` rebuilds ``data`` as it arrived (as a JSON value: key order was never kept, the log
was JSONB before), so ``kashi replay`` and the ``usage_events`` view see the event that was sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from metering.events import GPU_STATUS, GPU_USAGE, LLM_TOKENS, UsageRecord

KINDS = {"gpu": 1, "tokens": 2, "status": 3}
"""``usage_log.kind & 3``: the event type as a small integer (a tokens row is always exactly 2)."""
TYPES = {1: GPU_USAGE, 2: LLM_TOKENS, 3: GPU_STATUS}
RECORD_KINDS = {v: k for k, v in KINDS.items()}
START_Z, END_Z = 4, 8
"""Bits of ``usage_log.kind``: the interval's start (end) was written ``…Z`` rather than ``…+00:00``."""
TOKEN_KEYS = ("input_tokens", "output_tokens", "cached_tokens")
_INT8 = 2**63


_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_UUID_LENGTH = 36
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
"""Every ASCII digit written ``0`` (and nothing else): a run of six digits is then ``000000``."""
_ASCII_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"


def split_id(event_id: str) -> tuple[str, str]:
    """``(prefix, suffix)`` with ``prefix + suffix == event_id``: the suffix is what changes from one
    event of an agent to the next, the prefix (a dictionary name) what stays. In order:

    - an id ending in a UUID (``8-4-4-4-12`` hex digits): the UUID, random, is the suffix;
    - else an id ending in sixteen or more hex digits (a hash, a UUID without hyphens): those;
    - else from the last run of six or more ASCII digits (a timestamp, a counter) to the end
      (``n7-GPU-3-1790812800-overlap-2`` → ``n7-GPU-3-`` and ``1790812800-overlap-2``);
    - else the trailing ASCII digits, or the whole id if it has none or is nothing but digits.

    So the dictionary holds a name per agent, GPU or stream, not one per event (issue17ingest_0002
    moved the keys logged under the earlier rule, the last item alone; it keeps this rule as regular
    expressions, and a property test holds the two equal). Once per event on the worker's hot path,
    hence string methods rather than backtracking patterns."""
    n = len(event_id)
    if n >= _UUID_LENGTH and event_id[-13] == "-" and _UUID.fullmatch(event_id, n - _UUID_LENGTH):
        return event_id[:-_UUID_LENGTH], event_id[-_UUID_LENGTH:]
    head = event_id.rstrip(_ASCII_DIGITS)
    digits = n - len(head)
    if not head:  # nothing but digits: every rule keeps it whole
        return "", event_id
    if head[-1] not in _HEX_DIGITS:  # the trailing hex digits are the trailing digits
        if digits >= 6:  # an agent's usual id: a timestamp at the end
            return head, event_id[len(head) :]
    else:
        hex_head = event_id.rstrip(_HEX_DIGITS)
        if n - len(hex_head) >= 16:
            return hex_head, event_id[len(hex_head) :]
    if digits >= 6:
        return head, event_id[len(head) :]
    # one byte per character (anything not ASCII a "?"), so positions are the id's
    zeros = event_id.encode("ascii", "replace").translate(_DIGITS_AS_ZERO)
    cut = zeros.rfind(b"000000")  # inside the last run of six or more digits; back to its start
    if cut >= 0:
        while cut and zeros[cut - 1] == 48:  # b"0"
            cut -= 1
        return event_id[:cut], event_id[cut:]
    return (head, event_id[len(head) :]) if digits else ("", event_id)


@lru_cache(maxsize=1 << 16)
def canonical(seconds: int) -> tuple[str, str]:
    """The two canonical UTC renderings of a whole-second instant: ``+00:00`` and ``Z`` (an agent's
    windows share their instants, hence the cache)."""
    plus = datetime.fromtimestamp(seconds, UTC).isoformat()
    return plus, plus[:-6] + "Z"


def names_of(record: UsageRecord, prefix: str) -> list[str]:
    """Every name a record's row refers to by dictionary number (``prefix``: of its split id)."""
    found = [record.source, prefix, record.tenant_id]
    data = record.data
    for key in ("contract_id", "gpu", "gpu_model", "model", "node"):
        value = data.get(key)
        if isinstance(value, str):
            found.append(value)
    return found


def encode(record: UsageRecord, no: Mapping[str, int], split: tuple[str, str]) -> tuple:
    """The row of ``usage_log`` for ``record`` (in :data:`COLUMNS` order, without seq and batch);
    ``split`` is :func:`split_id` of its id. (Once per event on the worker's hot path: written out.)"""
    rest = dict(record.data)
    pop = rest.pop
    prefix, suffix = split
    contract = gpu = node = start = span = utilization = percent = None
    input_tokens = output_tokens = cached_tokens = None
    if record.kind == "tokens":
        kind = 2
        value = rest.get("contract_id")
        if type(value) is str:
            contract = no[pop("contract_id")]
        value = rest.get("model")
        model = no[pop("model")] if type(value) is str else None
        value = rest.get("input_tokens")
        if type(value) is int and -_INT8 <= value < _INT8:
            input_tokens = pop("input_tokens")
        value = rest.get("output_tokens")
        if type(value) is int and -_INT8 <= value < _INT8:
            output_tokens = pop("output_tokens")
        value = rest.get("cached_tokens")
        if type(value) is int and -_INT8 <= value < _INT8:
            cached_tokens = pop("cached_tokens")
    else:
        kind = KINDS[record.kind]
        if kind == 1:
            value = rest.get("contract_id")
            if type(value) is str:
                contract = no[pop("contract_id")]
        value = rest.get("gpu")
        if type(value) is str:
            gpu = no[pop("gpu")]
        value = rest.get("gpu_model")
        model = no[pop("gpu_model")] if type(value) is str else None
        value = rest.get("node")
        if type(value) is str:
            node = no[pop("node")]
        start, span = record.start, record.end - record.start
        value = rest.get("start")
        plus, zulu = canonical(record.start)
        if value == zulu:
            del rest["start"]
            kind |= START_Z
        elif value == plus:
            del rest["start"]
        value = rest.get("end")
        plus, zulu = canonical(record.end)
        if value == zulu:
            del rest["end"]
            kind |= END_Z
        elif value == plus:
            del rest["end"]
        value = rest.get("utilization")
        if type(value) is str:
            del rest["utilization"]
            percent = _percent(value)  # "0.83": two bytes, hundredths
            if percent is None:
                utilization = value
    return (
        _utc(record.time),
        start,
        input_tokens,
        output_tokens,
        cached_tokens,
        no[record.source],
        no[prefix],
        no[record.tenant_id],
        model,
        gpu,
        node,
        contract,
        span,
        kind,
        percent,
        suffix,
        utilization,
        rest or None,
    )


_DIGITS = frozenset("0123456789")


@lru_cache(maxsize=1 << 12)
def _percent(value: str) -> int | None:
    """``value`` in hundredths if it is ``0.dd`` (ASCII digits) or ``1.00``, else None (an agent
    reports a few hundred distinct utilisations, hence the cache)."""
    if len(value) != 4 or value[1] != "." or value[2] not in _DIGITS or value[3] not in _DIGITS:
        return None
    if value[0] != "0" and value != "1.00":
        return None
    return int(value[0]) * 100 + int(value[2:])


@lru_cache(maxsize=1 << 16)
def _utc(seconds: float) -> datetime:
    """The instant ``seconds`` after the epoch, in UTC (events share their times: a node's windows
    end together, and most instants are sent to the second)."""
    return datetime.fromtimestamp(seconds, UTC)


COLUMNS = (
    "event_time",
    "start_s",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "source_no",
    "id_prefix_no",
    "tenant_no",
    "model_no",
    "gpu_no",
    "node_no",
    "contract_no",
    "span_s",
    "kind",
    "util_pct",
    "id_suffix",
    "utilization",
    "rest",
)
"""The columns :func:`encode` fills, in its order."""
COLUMN_TYPES = {
    "event_time": "timestamptz",
    "start_s": "int8",
    "input_tokens": "int8",
    "output_tokens": "int8",
    "cached_tokens": "int8",
    "source_no": "int4",
    "id_prefix_no": "int4",
    "tenant_no": "int4",
    "model_no": "int4",
    "gpu_no": "int4",
    "node_no": "int4",
    "contract_no": "int4",
    "span_s": "int4",
    "kind": "int2",
    "util_pct": "int2",
    "id_suffix": "text",
    "utilization": "text",
    "rest": "jsonb",
}
"""Each column's PostgreSQL type (``usage_log``'s)."""


def data_of(row: Any, name: Callable[[int], str]) -> dict:
    """The event's ``data`` rebuilt from its row (``name`` turns a dictionary number into its name)."""
    data: dict[str, Any] = {}
    if row.kind == KINDS["tokens"]:  # tokens rows carry no flag bits
        data["model"] = name(row.model_no)
        for key in TOKEN_KEYS:
            value = getattr(row, key)
            if value is not None:
                data[key] = value
    else:
        data["gpu"], data["gpu_model"] = name(row.gpu_no), name(row.model_no)
        start, end = canonical(row.start_s), canonical(row.start_s + row.span_s)
        data["start"] = start[1] if row.kind & START_Z else start[0]
        data["end"] = end[1] if row.kind & END_Z else end[0]
        if row.node_no is not None:
            data["node"] = name(row.node_no)
        if row.util_pct is not None:
            data["utilization"] = f"{row.util_pct // 100}.{row.util_pct % 100:02d}"
        elif row.utilization is not None:
            data["utilization"] = row.utilization
    if row.contract_no is not None:
        data["contract_id"] = name(row.contract_no)
    if row.rest:
        data.update(row.rest)
    return data


def record_of(row: Any, name: Callable[[int], str]) -> UsageRecord:
    """The :class:`UsageRecord` ingest built from the event, rebuilt from its row (replay)."""
    data = data_of(row, name)
    source, tenant = name(row.source_no), name(row.tenant_no)
    event_id = name(row.id_prefix_no) + row.id_suffix
    time = row.event_time.timestamp()
    kind = RECORD_KINDS[row.kind & 3]
    if kind == "tokens":
        return UsageRecord(
            "tokens",
            source,
            event_id,
            tenant,
            time,
            data.get("contract_id"),
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
    contract = data.get("contract_id") if kind == "gpu" else None
    gpu, model = data["gpu"], data["gpu_model"]
    return UsageRecord(
        kind, source, event_id, tenant, time, contract, data, gpu, model, row.start_s, row.start_s + row.span_s
    )
