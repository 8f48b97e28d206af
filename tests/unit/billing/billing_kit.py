"""Builders for the billing unit tests: contracts from SPEC §4 payloads, folded from real events.

A plain module (not a conftest) so hypothesis tests can call it without function-scoped fixtures.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.core.catalog import DEFAULT_CATALOG
from billing.core.contract_payload import contract_from_payload
from billing.core.contracts import (
    ContractAmended,
    ContractSigned,
    ContractState,
    ContractTerminated,
    ItemChanges,
    apply,
)
from billing.core.periods import Zone, zone

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz: Zone = SHANGHAI) -> datetime:
    """A local wall time in `tz` ("2026-10-01" or "2026-10-01T12:00") as an aware UTC instant."""
    from datetime import UTC

    return datetime.fromisoformat(text).replace(tzinfo=zone(tz)).astimezone(UTC)


def machines(machine_count: int = 60, unit_price: str = "5000.00", item_id: str = "i-1", **extra) -> dict:
    return {
        "id": item_id,
        "pricing": "machine_month",
        "gpu_model": "RTX-4090",
        "cards_per_machine": 8,
        "machines": machine_count,
        "unit_price": unit_price,
        **extra,
    }


def capacity(capacity_p: str = "100", unit_price: str = "120000.00", item_id: str = "i-2") -> dict:
    return {"id": item_id, "pricing": "p_year", "capacity_p": capacity_p, "unit_price": unit_price}


def card_hours(unit_price: str = "12.50", committed: str | None = "1000", item_id: str = "i-3", model="H100-SXM"):
    item = {"id": item_id, "pricing": "gpu_hour", "gpu_model": model, "unit_price": unit_price}
    return item if committed is None else {**item, "committed_card_hours": committed}


def tokens(model: str = "qwen2.5-72b", item_id: str = "i-4") -> dict:
    return {
        "id": item_id,
        "pricing": "token",
        "model": model,
        "input_price": "2.00",
        "output_price": "8.00",
        "cached_input_price": "0.50",
    }


def payload(*items: dict, **terms) -> dict:
    """A SPEC §4 contract payload; `terms` override the defaults (start 2026-01-01 Shanghai, 36 closed)."""
    return {
        "id": "c-1",
        "tenant_id": "tenant-a",
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": "2026-01-01T00:00:00+08:00",
        "closed_months": 36,
        "open_months": 0,
        "notice_days": 30,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
        "items": list(items) or [machines()],
        **terms,
    }


def sign(document: dict, tz: Zone = SHANGHAI) -> ContractState:
    terms = contract_from_payload(document, DEFAULT_CATALOG, tz)
    return apply(None, ContractSigned(terms=terms, recorded_at=terms.start, actor="test"))


def amend(state: ContractState, item_id: str, effective_at: datetime, **changes) -> ContractState:
    values = {key: Decimal(value) if isinstance(value, str) else value for key, value in changes.items()}
    event = ContractAmended(
        contract_id=state.id,
        item_id=item_id,
        changes=ItemChanges(**values),
        effective_at=effective_at,
        version=state.version + 1,
        recorded_at=effective_at,
        actor="test",
    )
    return apply(state, event)


def terminate(state: ContractState, effective_at: datetime, notice_given_at: datetime | None = None):
    event = ContractTerminated(
        contract_id=state.id,
        effective_at=effective_at,
        notice_given_at=notice_given_at or effective_at,
        version=state.version + 1,
        recorded_at=effective_at,
        actor="test",
    )
    return apply(state, event)


def amounts(lines) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in lines]
