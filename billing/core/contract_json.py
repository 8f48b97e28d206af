"""Contract events as plain JSON dicts, for the event store's JSONB column and GET …/events (SPEC §4).

Decimals are strings (a price as money is written, ``5000`` → "5000.00"; the others as given: the
Decimal's value survives the round trip),
instants ISO 8601 in UTC with a "Z". An event reads:

    {"type": "ContractAmended", "contract_id": "c-1", "version": 2,
     "recorded_at": "2026-10-02T03:00:00Z", "actor": "key:op-1",
     "data": {"item_id": "i-1", "changes": {"machines": 40}, "effective_at": "2026-10-31T16:00:00Z"}}

`data` of ContractSigned is the contract in the SPEC §4 shape, plus what signing fixed for replay
(`capacity_p` and `card_tflops` of p_year items derived from machines).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.core.contracts import (
    ITEM_TYPES,
    ContractAmended,
    ContractEvent,
    ContractSigned,
    ContractTerminated,
    ContractTerms,
    Item,
    ItemChanges,
    Penalty,
)
from billing.core.money import to_json as money_json
from billing.core.periods import instant_to_json
from billing.core.sla_terms import Sla
from kashi.errors import ValidationFailed

_DECIMAL_FIELDS = frozenset(
    {
        "unit_price",
        "capacity_p",
        "card_tflops",
        "committed_card_hours",
        "input_price",
        "output_price",
        "cached_input_price",
        "tax_rate",
        "rate",
    }
)


def instant_from_json(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValidationFailed.of("instant", f"{text!r} carries no offset")
    return parsed.astimezone(UTC)


_PRICE_FIELDS = frozenset({"unit_price", "input_price", "output_price", "cached_input_price"})
"""Prices: written as money is (at least two places, SPEC §2: ``5000`` → ``"5000.00"``); the other
Decimals (capacities, hours, rates) as they were given."""


def _value_to_json(value: Any, name: str = "") -> Any:
    if isinstance(value, Decimal):
        return money_json(value) if name in _PRICE_FIELDS else str(value)
    if isinstance(value, datetime):
        return instant_to_json(value)
    return value


def _plain(value: Any) -> dict[str, Any]:
    """A flat dataclass as a dict of JSON values, None fields left out."""
    return {
        f.name: _value_to_json(getattr(value, f.name), f.name)
        for f in fields(value)
        if getattr(value, f.name) is not None
    }


def _decode(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: Decimal(value) if key in _DECIMAL_FIELDS and value is not None else value for key, value in data.items()
    }


def item_to_json(item: Item) -> dict[str, Any]:
    document = {"id": item.id, "pricing": item.pricing, **{k: v for k, v in _plain(item).items() if k != "id"}}
    if isinstance(document.get("sla"), Sla):
        document["sla"] = document["sla"].to_json()
    return document


def item_from_json(data: Mapping[str, Any]) -> Item:
    values = _decode(data)
    cls = ITEM_TYPES[values.pop("pricing")]
    if values.get("sla") is not None:
        values["sla"] = Sla.from_json(values["sla"])
    return cls(**values)


def terms_to_json(terms: ContractTerms) -> dict[str, Any]:
    """The contract in the SPEC §4 shape."""
    party = {"supplier_id": terms.supplier_id} if terms.payable else {"tenant_id": terms.tenant_id}
    return {
        "id": terms.id,
        **party,
        "currency": terms.currency,
        "tax_rate": str(terms.tax_rate),
        "start": instant_to_json(terms.start),
        "closed_months": terms.closed_months,
        "open_months": terms.open_months,
        "notice_days": terms.notice_days,
        "penalty": None if terms.penalty is None else _plain(terms.penalty),
        "items": [item_to_json(item) for item in terms.items],
    }


def terms_from_json(data: Mapping[str, Any]) -> ContractTerms:
    """The inverse of `terms_to_json`; trusts its input (it was validated when signed)."""
    penalty = data.get("penalty")
    return ContractTerms(
        id=data["id"],
        tenant_id=data.get("tenant_id"),
        supplier_id=data.get("supplier_id"),
        currency=data["currency"],
        tax_rate=Decimal(data["tax_rate"]),
        start=instant_from_json(data["start"]),
        closed_months=data["closed_months"],
        open_months=data["open_months"],
        notice_days=data["notice_days"],
        penalty=None if penalty is None else Penalty(**_decode(penalty)),
        items=tuple(item_from_json(item) for item in data["items"]),
    )


def event_to_json(event: ContractEvent) -> dict[str, Any]:
    """A contract event as a JSON-ready dict (see the module docstring for the shape)."""
    if isinstance(event, ContractSigned):
        data = terms_to_json(event.terms)
    elif isinstance(event, ContractAmended):
        data = {
            "item_id": event.item_id,
            "changes": _plain(event.changes),
            "effective_at": instant_to_json(event.effective_at),
        }
    else:
        data = {
            "effective_at": instant_to_json(event.effective_at),
            "notice_given_at": instant_to_json(event.notice_given_at),
        }
    return {
        "type": type(event).__name__,
        "contract_id": event.contract_id,
        "version": event.version,
        "recorded_at": instant_to_json(event.recorded_at),
        "actor": event.actor,
        "data": data,
    }


STREAM_PREFIX = "contract:"
"""Each contract is the event stream ``contract:<id>``: the one spelling of that prefix."""


def stream_of(contract_id: str) -> str:
    """The stream id of a contract."""
    return STREAM_PREFIX + contract_id


def contract_of(stream_id: str) -> str:
    """The contract id of a contract's stream id."""
    return stream_id.removeprefix(STREAM_PREFIX)


def stored_event_json(row: Any) -> dict[str, Any]:
    """The JSON of a contract event from its ``stream_events`` row (stream_id, type, version, actor,
    recorded_at, data): what ``GET /v1/contracts/{id}/events`` shows and ``event_from_json`` reads."""
    return {
        "type": row.type,
        "contract_id": contract_of(row.stream_id),
        "version": row.version,
        "recorded_at": instant_to_json(row.recorded_at),
        "actor": row.actor,
        "data": row.data,
    }


def event_from_json(document: Mapping[str, Any]) -> ContractEvent:
    """The inverse of `event_to_json`."""
    kind, data = document["type"], document["data"]
    common = {
        "version": document["version"],
        "recorded_at": instant_from_json(document["recorded_at"]),
        "actor": document["actor"],
    }
    if kind == "ContractSigned":
        return ContractSigned(terms=terms_from_json(data), **common)
    if kind == "ContractAmended":
        return ContractAmended(
            contract_id=document["contract_id"],
            item_id=data["item_id"],
            changes=ItemChanges(**_decode(data["changes"])),
            effective_at=instant_from_json(data["effective_at"]),
            **common,
        )
    if kind == "ContractTerminated":
        return ContractTerminated(
            contract_id=document["contract_id"],
            effective_at=instant_from_json(data["effective_at"]),
            notice_given_at=instant_from_json(data["notice_given_at"]),
            **common,
        )
    raise ValidationFailed.of("type", f"unknown contract event type {kind!r}")
