"""Validate API payloads into contract values (SPEC §4), naming every bad field at once.

`contract_from_payload` turns the JSON of POST /v1/contracts into `ContractTerms`;
`parse_amendment` and `parse_termination` do the same for the bodies of amendments and
terminations. All problems are collected and raised together as one `ValidationFailed` whose
details read `{"field": "items[2].unit_price", "reason": "..."}`.

Defaults where the payload is silent: currency the tenant's (CNY), tax_rate 0, closed_months 0,
open_months 0 (but at least one month in all), notice_days 30, no penalty, cards_per_machine 8,
cached_input_price = input_price (cached tokens are input tokens unless priced apart).
Instants are RFC 3339 with an offset; a bare date `YYYY-MM-DD` means local midnight in the
tenant's timezone. Unknown fields are rejected so a typo never silently drops a price.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.core.catalog import Catalog
from billing.core.contracts import (
    DEFAULT_CARDS_PER_MACHINE,
    ContractTerms,
    GpuHourItem,
    Item,
    ItemChanges,
    MachineMonthItem,
    Penalty,
    PYearItem,
    TokenItem,
)
from billing.core.money import DEFAULT_CURRENCY, PRICE_PLACES, parse_amount, validate_currency
from billing.core.periods import Zone, require_aware, zone
from billing.core.sla_terms import parse_sla
from kashi.errors import ValidationFailed

DEFAULT_NOTICE_DAYS = 30
_MISSING: Any = object()

_TOP_FIELDS = {
    "id",
    "tenant_id",
    "supplier_id",
    "currency",
    "tax_rate",
    "start",
    "closed_months",
    "open_months",
    "notice_days",
    "penalty",
    "items",
}
_ITEM_FIELDS = {
    "machine_month": {
        "id",
        "pricing",
        "gpu_model",
        "cards_per_machine",
        "machines",
        "unit_price",
        "supplied_by",
        "sla",
    },
    "p_year": {
        "id",
        "pricing",
        "capacity_p",
        "gpu_model",
        "cards_per_machine",
        "machines",
        "unit_price",
        "supplied_by",
        "sla",
    },
    "gpu_hour": {"id", "pricing", "gpu_model", "unit_price", "committed_card_hours"},
    "token": {"id", "pricing", "model", "input_price", "output_price", "cached_input_price"},
}


class _Problems:
    """Collects `{"field", "reason"}` details; `raise_if_any` raises them as one ValidationFailed."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.details.append({"field": field, "reason": reason})

    def raise_if_any(self, what: str) -> None:
        if self.details:
            count = len(self.details)
            raise ValidationFailed(f"{what} has {count} invalid field{'s' * (count > 1)}", self.details)

    def text(self, obj: Mapping, key: str, field: str, default: Any = _MISSING) -> str | None:
        value = obj.get(key, default)
        if value is _MISSING:
            self.add(field, "is required")
        elif value is not None and (not isinstance(value, str) or not value.strip()):
            self.add(field, "must be a non-empty string")
        elif isinstance(value, str) and len(value) > 200:
            self.add(field, "must be at most 200 characters")
        else:
            return value
        return None

    def integer(self, obj: Mapping, key: str, field: str, minimum: int, default: Any = _MISSING) -> int | None:
        value = obj.get(key, default)
        if value is _MISSING:
            self.add(field, "is required")
        elif value is None and default is None:
            return None
        elif isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be a whole number, not {value!r}")
        elif value < minimum:
            self.add(field, f"must be at least {minimum}")
        else:
            return value
        return None

    def decimal(
        self, obj: Mapping, key: str, field: str, *, places: int, positive: bool, default: Any = _MISSING
    ) -> Decimal | None:
        value = obj.get(key, default)
        if value is _MISSING:
            self.add(field, "is required")
            return None
        if value is None and default is None:
            return None
        try:
            number = parse_amount(value, places=places, field=field)
        except ValidationFailed as error:
            self.details.extend(error.details)
            return None
        if number < 0 or (positive and number == 0):
            self.add(field, "must be greater than 0" if positive else "must not be negative")
            return None
        return number

    def gpu_model(self, obj: Mapping, field: str, catalog: Catalog, required: bool = True) -> str | None:
        name = self.text(obj, "gpu_model", field, default=_MISSING if required else None)
        if name is not None and name not in catalog:
            self.add(field, f"unknown GPU model {name!r}; add it to the catalog first")
            return None
        return name

    def instant(self, obj: Mapping, key: str, field: str, tz: Zone, default: Any = _MISSING) -> datetime | None:
        value = obj.get(key, default)
        if value is _MISSING:
            self.add(field, "is required")
            return None
        if value is None:
            return None
        try:
            return parse_instant(value, field=field, tz=tz)
        except ValidationFailed as error:
            self.details.extend(error.details)
            return None

    def unknown(self, obj: Mapping, allowed: set[str], prefix: str) -> None:
        for key in sorted(set(obj) - allowed):
            self.add(f"{prefix}{key}", "unknown field")


SUPPLIED_BY = re.compile(r"^(?P<contract>[A-Za-z0-9][A-Za-z0-9._:-]{0,127})/(?P<item>[^/\s]{1,200})$")
"""`"<payable contract id>/<item id>"` on a tenant's capacity item (SPEC §17)."""


def split_supplied_by(value: str) -> tuple[str, str]:
    """`("c-buy", "i-1")` from `"c-buy/i-1"`; ValidationFailed naming `supplied_by` otherwise."""
    match = SUPPLIED_BY.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationFailed.of("supplied_by", 'must read "<payable contract id>/<item id>"')
    return match["contract"], match["item"]


def _supplied_by(raw: Mapping, prefix: str, problems: _Problems) -> str | None:
    value = raw.get("supplied_by")
    if value is None:
        return None
    if not isinstance(value, str) or SUPPLIED_BY.match(value) is None:
        problems.add(prefix + "supplied_by", 'must read "<payable contract id>/<item id>"')
        return None
    return value


def parse_instant(value: object, *, field: str, tz: Zone) -> datetime:
    """An RFC 3339 instant as aware UTC; a bare `YYYY-MM-DD` is local midnight in `tz`."""
    if not isinstance(value, str):
        raise ValidationFailed.of(field, 'must be an RFC 3339 string such as "2026-09-15T00:00:00+08:00"')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.of(field, f"{value!r} is not an RFC 3339 instant") from None
    if parsed.tzinfo is None:
        if len(value) != 10:
            raise ValidationFailed.of(field, "must carry a UTC offset (RFC 3339)")
        parsed = parsed.replace(tzinfo=zone(tz))
    return require_aware(parsed, field)


def _item(raw: object, index: int, catalog: Catalog, problems: _Problems) -> Item | None:
    prefix = f"items[{index}]."
    if not isinstance(raw, Mapping):
        problems.add(f"items[{index}]", "must be an object")
        return None
    pricing = raw.get("pricing")
    if not isinstance(pricing, str) or pricing not in _ITEM_FIELDS:
        problems.add(prefix + "pricing", f"must be one of {', '.join(_ITEM_FIELDS)}, not {pricing!r}")
        return None
    before = len(problems.details)
    problems.unknown(raw, _ITEM_FIELDS[pricing], prefix)
    item_id = problems.text(raw, "id", prefix + "id")

    def price(key: str, positive: bool = True, default: Any = _MISSING) -> Decimal | None:
        return problems.decimal(raw, key, prefix + key, places=PRICE_PLACES, positive=positive, default=default)

    built: Item | None = None
    if pricing == "machine_month":
        fields = dict(
            id=item_id,
            gpu_model=problems.gpu_model(raw, prefix + "gpu_model", catalog),
            machines=problems.integer(raw, "machines", prefix + "machines", 1),
            cards_per_machine=problems.integer(
                raw, "cards_per_machine", prefix + "cards_per_machine", 1, DEFAULT_CARDS_PER_MACHINE
            ),
            unit_price=price("unit_price"),
        )
        supplied_by = _supplied_by(raw, prefix, problems)
        built = MachineMonthItem(**fields, supplied_by=supplied_by) if None not in fields.values() else None
    elif pricing == "p_year":
        built = _p_year(raw, prefix, item_id, price("unit_price"), catalog, problems)
        supplied_by = _supplied_by(raw, prefix, problems)
        if built is not None and supplied_by is not None:
            built = replace(built, supplied_by=supplied_by)
    elif pricing == "gpu_hour":
        fields = dict(
            id=item_id,
            gpu_model=problems.gpu_model(raw, prefix + "gpu_model", catalog),
            unit_price=price("unit_price"),
        )
        committed = price("committed_card_hours", positive=False, default=None)
        if None not in fields.values():
            built = GpuHourItem(**fields, committed_card_hours=committed)
    else:
        fields = dict(
            id=item_id,
            model=problems.text(raw, "model", prefix + "model"),
            input_price=price("input_price", positive=False),
            output_price=price("output_price", positive=False),
        )
        cached = price("cached_input_price", positive=False) if "cached_input_price" in raw else fields["input_price"]
        if None not in fields.values() and cached is not None:
            built = TokenItem(**fields, cached_input_price=cached)
    if "sla" in raw and pricing in ("machine_month", "p_year"):
        sla, found = parse_sla(raw["sla"], prefix + "sla")
        for problem in found:
            problems.add(problem["field"], problem["reason"])
        if pricing == "p_year" and "gpu_model" not in raw:
            problems.add(prefix + "sla", "needs gpu_model: availability counts cards of one model (P × 1000 ÷ TFLOPS)")
        if built is not None and sla is not None:
            built = replace(built, sla=sla)
            if isinstance(built, PYearItem) and built.card_tflops is None and built.gpu_model in catalog:
                built = replace(built, card_tflops=catalog.tflops(built.gpu_model))
    return built if len(problems.details) == before else None


def _p_year(
    raw: Mapping,
    prefix: str,
    item_id: str | None,
    unit_price: Decimal | None,
    catalog: Catalog,
    problems: _Problems,
) -> PYearItem | None:
    gpu_model = problems.gpu_model(raw, prefix + "gpu_model", catalog, required=False)
    if "capacity_p" in raw:
        if "machines" in raw:
            problems.add(prefix + "machines", "give capacity_p or machines (with gpu_model), not both")
        capacity = problems.decimal(raw, "capacity_p", prefix + "capacity_p", places=PRICE_PLACES, positive=True)
        if None in (item_id, unit_price, capacity):
            return None
        return PYearItem(id=item_id, capacity_p=capacity, unit_price=unit_price, gpu_model=gpu_model)
    if "machines" not in raw or "gpu_model" not in raw:
        problems.add(prefix + "capacity_p", "is required unless gpu_model and machines are given")
        return None
    machines = problems.integer(raw, "machines", prefix + "machines", 1)
    cards = problems.integer(raw, "cards_per_machine", prefix + "cards_per_machine", 1, DEFAULT_CARDS_PER_MACHINE)
    if None in (item_id, unit_price, gpu_model, machines, cards):
        return None
    tflops = catalog.tflops(gpu_model)
    return PYearItem(
        id=item_id,
        capacity_p=Decimal(machines * cards) * tflops / 1000,
        unit_price=unit_price,
        gpu_model=gpu_model,
        machines=machines,
        cards_per_machine=cards,
        card_tflops=tflops,
    )


def _penalty(raw: object, problems: _Problems) -> Penalty | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add("penalty", "must be an object with basis and rate or months")
        return None
    basis = raw.get("basis")
    if basis == "remaining_closed_value":
        problems.unknown(raw, {"basis", "rate"}, "penalty.")
        rate = problems.decimal(raw, "rate", "penalty.rate", places=PRICE_PLACES, positive=False)
        if rate is not None and rate > 1:
            problems.add("penalty.rate", "must be a fraction between 0 and 1 (0.20 for 20%)")
            return None
        return None if rate is None else Penalty(basis=basis, rate=rate)
    if basis == "fixed_months":
        problems.unknown(raw, {"basis", "months", "rate"}, "penalty.")  # a rate is meaningless here: ignored
        months = problems.integer(raw, "months", "penalty.months", 1)
        return None if months is None else Penalty(basis=basis, months=months)
    problems.add("penalty.basis", f"must be remaining_closed_value or fixed_months, not {basis!r}")
    return None


def contract_from_payload(
    payload: object, catalog: Catalog, tz: Zone, *, default_currency: str = DEFAULT_CURRENCY
) -> ContractTerms:
    """`ContractTerms` from the body of POST /v1/contracts (SPEC §4), or one ValidationFailed naming all.

    catalog: resolves `gpu_model` names and derives P for p_year items given as machines.
    tz: the tenant's timezone, for a `start` given as a bare date.
    default_currency: the tenant's currency, used when the payload has none.
    """
    problems = _Problems()
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems.unknown(payload, _TOP_FIELDS, "")
    contract_id = problems.text(payload, "id", "id")
    tenant_id = supplier_id = None
    if "supplier_id" in payload and "tenant_id" in payload:
        problems.add("supplier_id", "give tenant_id (a contract we bill) or supplier_id (capacity we buy), not both")
    elif "supplier_id" in payload:
        supplier_id = problems.text(payload, "supplier_id", "supplier_id")
    else:
        tenant_id = problems.text(payload, "tenant_id", "tenant_id")
    if (
        tenant_id is None
        and supplier_id is None
        and not any(d["field"] in ("tenant_id", "supplier_id") for d in problems.details)
    ):  # a null party names no one: a contract bills a tenant or is bought from a supplier
        party = "supplier_id" if "supplier_id" in payload else "tenant_id"
        problems.add(party, "must name a tenant (tenant_id) or a supplier (supplier_id), not null")
    currency = None
    try:
        currency = validate_currency(payload.get("currency", default_currency))
    except ValidationFailed as error:
        problems.details.extend(error.details)
    tax_rate = problems.decimal(payload, "tax_rate", "tax_rate", places=PRICE_PLACES, positive=False, default=0)
    if tax_rate is not None and tax_rate >= 1:
        problems.add("tax_rate", "must be a fraction below 1 (0.06 for 6%)")
    start = problems.instant(payload, "start", "start", tz)
    closed = problems.integer(payload, "closed_months", "closed_months", 0, 0)
    opened = problems.integer(payload, "open_months", "open_months", 0, 0)
    if closed is not None and opened is not None and closed + opened < 1:
        problems.add("open_months", "closed_months + open_months must be at least 1")
    notice_days = problems.integer(payload, "notice_days", "notice_days", 0, DEFAULT_NOTICE_DAYS)
    penalty = _penalty(payload.get("penalty"), problems)
    raw_items = payload.get("items")
    items: list[Item] = []
    if not isinstance(raw_items, list) or not raw_items:
        problems.add("items", "must be a non-empty list")
        raw_items = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        item = _item(raw, index, catalog, problems)
        if item is not None and item.id in seen:
            problems.add(f"items[{index}].id", f"duplicate item id {item.id!r}")
        elif item is not None:
            seen.add(item.id)
            items.append(item)
    if supplier_id is not None:
        for index, item in enumerate(items):
            if getattr(item, "supplied_by", None) is not None:
                problems.add(f"items[{index}].supplied_by", "only a tenant's item resells capacity; this is bought")
    problems.raise_if_any("contract")
    return ContractTerms(
        id=contract_id,
        tenant_id=tenant_id,
        supplier_id=supplier_id,
        currency=currency,
        tax_rate=tax_rate,
        start=start,
        closed_months=closed,
        open_months=opened,
        notice_days=notice_days,
        penalty=penalty,
        items=tuple(items),
    )


def parse_changes(payload: object, field: str = "changes") -> ItemChanges:
    """`ItemChanges` from `{"machines": 40}` / `{"capacity_p": "80"}` / `{"committed_card_hours": "500"}`."""
    problems = _Problems()
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of(field, "must be an object")
    prefix = "" if field == "" else f"{field}."
    problems.unknown(payload, {"machines", "capacity_p", "committed_card_hours"}, prefix)
    machines = problems.integer(payload, "machines", prefix + "machines", 0, None)
    capacity = problems.decimal(
        payload, "capacity_p", prefix + "capacity_p", places=PRICE_PLACES, positive=False, default=None
    )
    committed = problems.decimal(
        payload,
        "committed_card_hours",
        prefix + "committed_card_hours",
        places=PRICE_PLACES,
        positive=False,
        default=None,
    )
    if not problems.details and machines is None and capacity is None and committed is None:
        problems.add(field or "body", "change at least one of machines, capacity_p, committed_card_hours")
    problems.raise_if_any("amendment")
    return ItemChanges(machines=machines, capacity_p=capacity, committed_card_hours=committed)


def parse_amendment(payload: object, tz: Zone) -> tuple[str, ItemChanges, datetime]:
    """`(item_id, changes, effective_at)` from `{"item_id", "effective_at", "changes": {...}}`.

    The changed quantities may also sit at the top level next to `item_id`.
    """
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = _Problems()
    item_id = problems.text(payload, "item_id", "item_id")
    effective_at = problems.instant(payload, "effective_at", "effective_at", tz)
    nested = "changes" in payload
    raw_changes = (
        payload["changes"]
        if nested
        else {key: value for key, value in payload.items() if key not in {"item_id", "effective_at"}}
    )
    changes = None
    try:
        changes = parse_changes(raw_changes, "changes" if nested else "")
    except ValidationFailed as error:
        problems.details.extend(error.details)
    problems.raise_if_any("amendment")
    return item_id, changes, effective_at


def parse_termination(payload: object, tz: Zone) -> tuple[datetime, datetime | None]:
    """`(effective_at, notice_given_at)` from the body of POST …/termination (SPEC §6).

    `notice_given_at` is None when absent; termination then treats notice as given at `effective_at`.
    """
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of("body", "must be a JSON object")
    problems = _Problems()
    problems.unknown(payload, {"effective_at", "notice_given_at"}, "")
    effective_at = problems.instant(payload, "effective_at", "effective_at", tz)
    notice_given_at = problems.instant(payload, "notice_given_at", "notice_given_at", tz, default=None)
    problems.raise_if_any("termination")
    return effective_at, notice_given_at


__all__ = [
    "contract_from_payload",
    "split_supplied_by",
    "parse_amendment",
    "parse_changes",
    "parse_instant",
    "parse_termination",
]
