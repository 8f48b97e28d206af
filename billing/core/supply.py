"""Resold capacity (SPEC §17): a tenant's item `supplied_by` a payable item resells what was bought.

Rules, checked whenever a tenant contract names a payable item or either side changes:
- the payable contract exists, is payable, has the item, and is in force when the tenant's item starts;
- the same GPU model on both sides;
- at every instant, the cards resold (Σ tenant items in force then) never exceed the cards bought then
  (the payable item in force, or 0 once the payable contract has ended).
Capacity is counted in cards: machines × cards_per_machine; for a `p_year` item without machines,
P × 1000 ÷ the card's TFLOPS. A breach of any rule is a Conflict (409), naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import ContractState, Item, MachineMonthItem, PYearItem
from billing.core.periods import Zone, instant_to_json
from billing.core.terms import fees_end, is_active

Tflops = Callable[[str], Decimal]


def cards(item: Item, tflops: Tflops) -> Fraction:
    """The cards an item holds: machines × cards per machine, or P × 1000 / TFLOPS for capacity in P."""
    if isinstance(item, MachineMonthItem):
        return Fraction(item.machines * item.cards_per_machine)
    if isinstance(item, PYearItem):
        if item.machines and item.cards_per_machine:
            return Fraction(item.machines * item.cards_per_machine)
        per_card = item.card_tflops or (tflops(item.gpu_model) if item.gpu_model else None)
        return Fraction(item.capacity_p) * 1000 / Fraction(per_card) if per_card else Fraction(0)
    return Fraction(0)


def machines(item: Item, tflops: Tflops, cards_per_machine: int) -> Fraction:
    """The item's capacity in machines of `cards_per_machine` cards."""
    return cards(item, tflops) / cards_per_machine


Resale = tuple[ContractState, str, Zone]
"""A tenant contract, the id of its item supplied by the payable item, and the tenant's timezone."""


def _instants(states: Iterable[tuple[ContractState, Zone]]) -> set[datetime]:
    found: set[datetime] = set()
    for state, _ in states:
        found.add(state.terms.start)
        found.update(version.effective_from for versions in state.timelines.values() for version in versions)
    return found


def supply_conflicts(
    payable: ContractState | None,
    payable_item_id: str,
    payable_tz: Zone,
    resales: list[Resale],
    tflops: Tflops,
    field: str = "supplied_by",
) -> list[dict[str, str]]:
    """Every rule `resales` break against `payable`'s item `payable_item_id`; [] when all hold."""
    reference = f"{payable.id if payable else '?'}/{payable_item_id}"
    if payable is None or not payable.terms.payable:
        return [{"field": field, "reason": f"{reference}: no payable contract {reference.split('/')[0]!r}"}]
    if payable_item_id not in payable.timelines:
        return [{"field": field, "reason": f"{reference}: the payable contract has no item {payable_item_id!r}"}]
    bought_model = getattr(payable.terms.item(payable_item_id), "gpu_model", None)
    problems = []
    for state, item_id, _ in resales:
        item = state.terms.item(item_id)
        model = getattr(item, "gpu_model", None)
        if model != bought_model:
            problems.append(
                {
                    "field": field,
                    "reason": f"{reference} buys {bought_model}, item {item_id} of "
                    f"{state.id} resells {model}: the same GPU model is needed",
                }
            )
        if not is_active(payable, state.terms.start, payable_tz):
            problems.append(
                {
                    "field": field,
                    "reason": f"{reference} is not in force at {state.id}'s start {instant_to_json(state.terms.start)}",
                }
            )
    if problems:
        return problems
    windows = [(state.terms.start, fees_end(state, tz)) for state, _, tz in resales]
    instants = _instants([(payable, payable_tz)] + [(state, tz) for state, _, tz in resales])
    instants |= {fees_end(payable, payable_tz)}
    for instant in sorted(instants):
        if not any(low <= instant < high for low, high in windows):
            continue
        bought = (
            cards(payable.item_at(payable_item_id, instant), tflops)
            if is_active(payable, instant, payable_tz)
            else Fraction(0)
        )
        resold = sum(
            (
                cards(state.item_at(item_id, instant), tflops)
                for state, item_id, tz in resales
                if is_active(state, instant, tz)
            ),
            Fraction(0),
        )
        if resold > bought:
            return [
                {
                    "field": field,
                    "reason": f"{reference}: {_n(resold)} cards resold at "
                    f"{instant_to_json(instant)}, only {_n(bought)} bought then",
                }
            ]
    return []


def _n(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else format(float(value), ".2f")
