"""SLA availability and credits of capacity items (SPEC §15) [pure].

A `machine_month` or `p_year` item may carry
``"sla": {"availability": "0.99", "credits": [{"below": "0.99", "rate": "0.10"}, {"below": "0.95", "rate": "0.25"}]}``.

Availability of the item in a period = lit allocated card-seconds of the GPUs reported under it ÷
its capacity card-seconds (cards × active seconds: machines × cards_per_machine, or for `p_year`
P × 1000 ÷ the model's TFLOPS cards), at most 1. "Reported under it": the tenant's `gpu.usage`
that rating attributes to the item (the contract it names, or the tenant's capacity item of that
model), counted for the seconds a `gpu.status` reported that GPU in a state other than down.

Below a threshold the period's invoice carries an `sla_credit` line: −round(rate of the lowest
threshold crossed × the item's charges of the period). "Crossed" is strict: availability exactly
at a threshold is not below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import ContractState, MachineMonthItem, PYearItem
from billing.core.lines import ChargeLine, charge_line
from billing.core.money import to_json
from billing.core.periods import Period, Zone, overlap
from billing.core.sla_terms import Sla, SlaCredit, parse_sla
from billing.core.terms import fees_end


def capacity_cards(item: MachineMonthItem | PYearItem) -> Fraction | None:
    """Cards the item provides: machines × cards_per_machine, or P × 1000 ÷ TFLOPS per card (None without a figure)."""
    if isinstance(item, MachineMonthItem):
        return Fraction(item.machines * item.cards_per_machine)
    if item.card_tflops:
        return Fraction(item.capacity_p) * 1000 / Fraction(item.card_tflops)
    return None


def capacity_card_seconds(state: ContractState, item_id: str, period: Period, tz: Zone) -> Fraction:
    """Cards × seconds the item is in force during `period` (amendments and fee end included)."""
    window = overlap(state.terms.start, fees_end(state, tz), period.start(tz), period.end(tz))
    if window is None:
        return Fraction(0)
    total = Fraction(0)
    for start, end, item in state.segments(item_id, *window):
        cards = capacity_cards(item) if isinstance(item, MachineMonthItem | PYearItem) else None
        total += (cards or 0) * int((end - start).total_seconds())
    return total


def availability(lit_allocated: int, capacity: Fraction) -> Fraction | None:
    """lit allocated ÷ capacity card-seconds, at most 1; None when the item had no capacity."""
    if not capacity:
        return None
    return min(Fraction(lit_allocated) / capacity, Fraction(1))


def sla_items(states: Iterable[ContractState]) -> list[tuple[ContractState, MachineMonthItem | PYearItem]]:
    """Every signed capacity item carrying an SLA."""
    return [
        (state, item)
        for state in states
        for item in state.terms.items
        if isinstance(item, MachineMonthItem | PYearItem) and item.sla is not None
    ]


def _percent(value: Fraction | Decimal) -> str:
    number = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
    return f"{number * 100:.2f}%"


def sla_credit_lines(
    states: Iterable[ContractState],
    period: Period,
    tz: Zone,
    lit_allocated: Mapping[tuple[str, str], int],
    period_lines: Iterable[ChargeLine],
) -> list[ChargeLine]:
    """The `sla_credit` lines of `period`: one per SLA item whose availability fell below a threshold.

    lit_allocated: (contract_id, item_id) → lit allocated card-seconds under the item in the period.
    period_lines: the period's own charges (`pricing.charges_for_period`), whose amounts are credited.
    """
    charges: dict[tuple[str, str | None], Decimal] = {}
    spans: dict[tuple[str, str | None], tuple[datetime, datetime]] = {}
    for line in period_lines:
        if line.kind in ("machine_month", "p_year"):
            key = (line.contract_id, line.item_id)
            charges[key] = charges.get(key, Decimal(0)) + line.amount
            low, high = spans.get(key, (line.period_start, line.period_end))
            spans[key] = (min(low, line.period_start), max(high, line.period_end))
    lines = []
    for state, item in sla_items(states):
        key = (state.id, item.id)
        if not charges.get(key):
            continue
        measured = availability(lit_allocated.get(key, 0), capacity_card_seconds(state, item.id, period, tz))
        if measured is None:
            continue
        tier = item.sla.tier(measured)
        if tier is None:
            continue
        start, end = spans[key]
        lines.append(
            charge_line(
                kind="sla_credit",
                contract_id=state.id,
                item_id=item.id,
                description=(
                    f"SLA credit {period}: availability {_percent(measured)} below {_percent(tier.below)} "
                    f"(target {_percent(item.sla.availability)}): {_percent(tier.rate)} of "
                    f"{to_json(charges[key])}"
                ),
                quantity=tier.rate,
                unit="of the period's charges",
                unit_price=-charges[key],
                exact_amount=-tier.rate * charges[key],
                tax_rate=state.terms.tax_rate,
                period_start=start,
                period_end=end,
                currency=state.terms.currency,
            )
        )
    return lines


__all__ = ["Sla", "SlaCredit", "parse_sla", "availability", "capacity_card_seconds", "sla_credit_lines", "sla_items"]
