"""Contracts as event streams (SPEC §4): terms, items, events, and state as their fold.

A contract is signed once (`ContractSigned`), may have items amended from an instant on
(`ContractAmended`), and may be terminated (`ContractTerminated`). Its state at any instant is
`fold(events)`: one mutator per event type, versions 1, 2, … n with no gap. The state keeps each
item's history, so pricing knows how many machines were in force at every second of a month.

Validating an API payload into `ContractTerms` lives in `billing.contract_payload`; the JSON form
of events in `billing.contract_json`; thin wrappers here keep one import for callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar, Literal

from billing.core.sla_terms import Sla
from kashi.errors import ContractClosed, NotFound, ValidationFailed, VersionConflict

DEFAULT_CARDS_PER_MACHINE = 8
"""Cards in one machine when a payload does not say: the usual 8-card server (SPEC §1)."""


@dataclass(frozen=True, kw_only=True)
class MachineMonthItem:
    """Whole machines rented per month: `unit_price` per machine-month (SPEC §5)."""

    pricing: ClassVar[str] = "machine_month"
    id: str
    gpu_model: str
    machines: int
    unit_price: Decimal
    cards_per_machine: int = DEFAULT_CARDS_PER_MACHINE
    supplied_by: str | None = None
    """On a tenant's item: `"<payable contract id>/<item id>"`, the capacity bought that it resells."""
    sla: Sla | None = None
    """Promised availability and credit tiers (`billing.core.sla`), if any."""

    def monthly_value(self) -> Fraction:
        """This item's part of RMV: `machines × unit_price`."""
        return self.machines * Fraction(self.unit_price)


@dataclass(frozen=True, kw_only=True)
class PYearItem:
    """Capacity in P (PFLOPS FP16 dense) per year: `unit_price` per P-year (SPEC §4, §5).

    capacity_p: P in force. When the payload gave `gpu_model` and `machines` instead, `capacity_p`
    was derived from the catalog at signing and `card_tflops` keeps the figure used, so an amendment
    of `machines` re-derives P without the catalog (a later catalog edit never rewrites history).
    gpu_model: optional; with it, usage on that model is covered by this capacity (SPEC §3).
    """

    pricing: ClassVar[str] = "p_year"
    id: str
    capacity_p: Decimal
    unit_price: Decimal
    gpu_model: str | None = None
    machines: int | None = None
    cards_per_machine: int | None = None
    card_tflops: Decimal | None = None
    supplied_by: str | None = None
    sla: Sla | None = None
    """Promised availability and credit tiers (`billing.core.sla`); needs `gpu_model` (cards = P × 1000 ÷ TFLOPS)."""

    def monthly_value(self) -> Fraction:
        """This item's part of RMV: `P × unit_price / 12`."""
        return Fraction(self.capacity_p) * Fraction(self.unit_price) / 12


@dataclass(frozen=True, kw_only=True)
class GpuHourItem:
    """Card-hours of `gpu_model` at `unit_price` each, with an optional monthly commitment (SPEC §5)."""

    pricing: ClassVar[str] = "gpu_hour"
    id: str
    gpu_model: str
    unit_price: Decimal
    committed_card_hours: Decimal | None = None

    def monthly_value(self) -> Fraction:
        """This item's part of RMV: `committed_card_hours × unit_price` (0 without commitment)."""
        return Fraction(self.committed_card_hours or 0) * Fraction(self.unit_price)


@dataclass(frozen=True, kw_only=True)
class TokenItem:
    """LLM tokens of `model` ("*" matches any model); prices per 1,000,000 tokens (SPEC §5)."""

    pricing: ClassVar[str] = "token"
    id: str
    model: str
    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal

    def monthly_value(self) -> Fraction:
        """Tokens carry no commitment: nothing towards RMV."""
        return Fraction(0)


Item = MachineMonthItem | PYearItem | GpuHourItem | TokenItem
ITEM_TYPES: Mapping[str, type] = MappingProxyType(
    {cls.pricing: cls for cls in (MachineMonthItem, PYearItem, GpuHourItem, TokenItem)}
)

PenaltyBasis = Literal["remaining_closed_value", "fixed_months"]


@dataclass(frozen=True, kw_only=True)
class Penalty:
    """What breaking the closed term costs (SPEC §6).

    basis "remaining_closed_value": `rate × remaining_closed_value` (rate commonly 0.20).
    basis "fixed_months": `months × RMV`; `rate` is not used.
    """

    basis: PenaltyBasis
    rate: Decimal = Decimal(0)
    months: int | None = None


@dataclass(frozen=True, kw_only=True)
class ContractTerms:
    """What was signed (SPEC §4). `start` is an aware UTC datetime; months count in the party's tz.

    tax_rate: a fraction (0.06 for 6% VAT). notice_days: calendar days of notice in the open term.
    penalty: None when the contract names none (breaking the closed term then costs nothing extra).
    tenant_id / supplier_id: exactly one is set. A tenant's contract is receivable (we bill the
    tenant); a supplier's is payable (capacity a broker bought: the supplier bills us). Both run
    through the same rules; only the direction of the money differs.
    """

    id: str
    tenant_id: str | None
    currency: str
    tax_rate: Decimal
    start: datetime
    closed_months: int
    open_months: int
    notice_days: int
    penalty: Penalty | None
    items: tuple[Item, ...]
    supplier_id: str | None = None

    @property
    def payable(self) -> bool:
        """Whether this is capacity bought from a supplier (money owed), not sold to a tenant."""
        return self.supplier_id is not None

    @property
    def party_id(self) -> str:
        """The tenant billed, or the supplier who bills us."""
        return self.supplier_id if self.supplier_id is not None else self.tenant_id

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise NotFound(f"contract {self.id} has no item {item_id!r}")


@dataclass(frozen=True, kw_only=True)
class ItemChanges:
    """The quantities an amendment may change (SPEC §4); None leaves a quantity as it was."""

    machines: int | None = None
    capacity_p: Decimal | None = None
    committed_card_hours: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class ContractSigned:
    terms: ContractTerms
    version: int = 1
    recorded_at: datetime
    actor: str

    @property
    def contract_id(self) -> str:
        return self.terms.id


@dataclass(frozen=True, kw_only=True)
class ContractAmended:
    """`item_id`'s quantities are `changes` from `effective_at` on."""

    contract_id: str
    item_id: str
    changes: ItemChanges
    effective_at: datetime
    version: int
    recorded_at: datetime
    actor: str


@dataclass(frozen=True, kw_only=True)
class ContractTerminated:
    """Fees end at `effective_at`; `notice_given_at` drives notice in lieu in the open term (SPEC §6)."""

    contract_id: str
    effective_at: datetime
    notice_given_at: datetime
    version: int
    recorded_at: datetime
    actor: str


ContractEvent = ContractSigned | ContractAmended | ContractTerminated


@dataclass(frozen=True)
class ItemVersion:
    """An item as it stood from `effective_from` until the next version."""

    effective_from: datetime
    item: Item


@dataclass(frozen=True)
class ContractState:
    """A contract folded from its events up to `version`.

    timelines: item id → its versions in effective order (the first from `terms.start`).
    terminated_at / notice_given_at: set by ContractTerminated.
    """

    terms: ContractTerms
    version: int
    timelines: Mapping[str, tuple[ItemVersion, ...]]
    amendments: tuple[ContractAmended, ...] = ()
    terminated_at: datetime | None = None
    notice_given_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.terms.id

    @property
    def currency(self) -> str:
        return self.terms.currency

    def item_at(self, item_id: str, instant: datetime) -> Item:
        """The version of `item_id` in force at `instant` (the signed one before `start`)."""
        versions = self.timelines.get(item_id)
        if versions is None:
            raise NotFound(f"contract {self.id} has no item {item_id!r}")
        current = versions[0].item
        for version in versions:
            if version.effective_from <= instant:
                current = version.item
        return current

    def items_at(self, instant: datetime) -> tuple[Item, ...]:
        """Every item as in force at `instant`, in the order of the signed terms."""
        return tuple(self.item_at(item.id, instant) for item in self.terms.items)

    def segments(self, item_id: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime, Item]]:
        """`[start, end)` cut where `item_id` changes: `(from, to, item)` pieces, before-start excluded."""
        versions = self.timelines[item_id]
        pieces = []
        for index, version in enumerate(versions):
            until = versions[index + 1].effective_from if index + 1 < len(versions) else None
            low = max(version.effective_from, start)
            high = end if until is None else min(until, end)
            if low < high:
                pieces.append((low, high, version.item))
        return pieces


def with_changes(item: Item, changes: ItemChanges) -> Item:
    """`item` with `changes` applied; a change the item's pricing does not have raises ValidationFailed."""
    updated = item
    if changes.machines is not None:
        if isinstance(item, MachineMonthItem):
            updated = replace(updated, machines=changes.machines)
        elif isinstance(item, PYearItem) and item.card_tflops is not None and item.cards_per_machine:
            derived = Decimal(changes.machines * item.cards_per_machine) * item.card_tflops / 1000
            updated = replace(updated, machines=changes.machines, capacity_p=derived)
        else:
            raise ValidationFailed.of("machines", f"item {item.id} ({item.pricing}) has no machines to change")
    if changes.capacity_p is not None:
        if not isinstance(item, PYearItem):
            raise ValidationFailed.of("capacity_p", f"item {item.id} ({item.pricing}) is not priced per P-year")
        updated = replace(updated, capacity_p=changes.capacity_p, machines=None)
    if changes.committed_card_hours is not None:
        if not isinstance(item, GpuHourItem):
            raise ValidationFailed.of(
                "committed_card_hours", f"item {item.id} ({item.pricing}) is not priced per card-hour"
            )
        updated = replace(updated, committed_card_hours=changes.committed_card_hours)
    return updated


def _signed(state: ContractState | None, event: ContractSigned) -> ContractState:
    if state is not None:
        raise VersionConflict(f"contract {event.terms.id} is already signed")
    terms = event.terms
    timelines = {item.id: (ItemVersion(terms.start, item),) for item in terms.items}
    return ContractState(terms=terms, version=event.version, timelines=MappingProxyType(timelines))


def _amended(state: ContractState, event: ContractAmended) -> ContractState:
    if state.terminated_at is not None:
        raise ContractClosed(f"contract {state.id} is terminated; it cannot be amended")
    versions = state.timelines.get(event.item_id)
    if versions is None:
        raise NotFound(f"contract {state.id} has no item {event.item_id!r}")
    if event.effective_at < versions[-1].effective_from:
        raise ValidationFailed.of(
            "effective_at", f"must not be before the item's last change at {versions[-1].effective_from}"
        )
    item = with_changes(versions[-1].item, event.changes)
    timelines = dict(state.timelines)
    timelines[event.item_id] = (*versions, ItemVersion(event.effective_at, item))
    return replace(
        state,
        version=event.version,
        timelines=MappingProxyType(timelines),
        amendments=(*state.amendments, event),
    )


def _terminated(state: ContractState, event: ContractTerminated) -> ContractState:
    if state.terminated_at is not None:
        raise ContractClosed(f"contract {state.id} is already terminated")
    return replace(
        state,
        version=event.version,
        terminated_at=event.effective_at,
        notice_given_at=event.notice_given_at,
    )


_MUTATORS = {
    ContractSigned: _signed,
    ContractAmended: _amended,
    ContractTerminated: _terminated,
}


def apply(state: ContractState | None, event: ContractEvent) -> ContractState:
    """The state after `event`. Versions must follow on: 1 for the signature, then state.version + 1."""
    if state is None and not isinstance(event, ContractSigned):
        raise VersionConflict(f"contract {event.contract_id}: the stream must start with ContractSigned")
    expected = 1 if state is None else state.version + 1
    if event.version != expected:
        raise VersionConflict(
            f"contract {event.contract_id}: expected version {expected}, got {event.version}",
            [{"field": "version", "reason": f"expected {expected}, got {event.version}"}],
        )
    if state is not None and event.contract_id != state.id:
        raise VersionConflict(f"event of contract {event.contract_id} applied to contract {state.id}")
    return _MUTATORS[type(event)](state, event)


def before_amendment(state: ContractState, amendment: ContractAmended) -> ContractState:
    """The contract as it stood just before `amendment` (one of `state.amendments`), as far as the
    amended item goes: its later versions and any termination are left out. Used to price the
    partial-termination penalty of an amendment again, exactly as it was quoted."""
    index = state.amendments.index(amendment)
    earlier_on_item = sum(1 for done in state.amendments[:index] if done.item_id == amendment.item_id)
    timelines = dict(state.timelines)
    timelines[amendment.item_id] = timelines[amendment.item_id][: 1 + earlier_on_item]
    return replace(
        state,
        version=amendment.version - 1,
        timelines=MappingProxyType(timelines),
        amendments=state.amendments[:index],
        terminated_at=None,
        notice_given_at=None,
    )


def before_termination(state: ContractState) -> ContractState:
    """The contract without its termination: what `terms.termination_lines` prices."""
    return replace(state, terminated_at=None, notice_given_at=None)


def fold(events: Iterable[ContractEvent]) -> ContractState:
    """The state of a contract from its whole stream, in version order; raises on a gap or disorder."""
    state: ContractState | None = None
    for event in events:
        state = apply(state, event)
    if state is None:
        raise NotFound("the contract has no events")
    return state
