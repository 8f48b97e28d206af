"""The broker's margin and exposure per payable item (SPEC §17), pure.

For a billing period P and each item of a payable contract:
- `cost`: what the supplier bills for the item in P — its charges (`pricing.charges_for_period`) and
  its share of one-off lines (penalty, notice) taking effect in P;
- `revenue`: the same, over every tenant item `supplied_by` it (each in its tenant's timezone), so a
  tenant's termination penalty in P is revenue of P;
- `margin` = revenue − cost, `margin_rate` = margin ÷ revenue (None without revenue);
- `machines_bought` / `machines_resold`: at `as_of`, in machines of the payable item's size;
- `exposure` = the payable item's remaining closed cost from `as_of` − the remaining closed value of
  the tenant items it supplies (each up to its own closed end or termination): what the broker owes
  even if every tenant left today. A one-off line of a whole contract (item_id None) is shared among
  the contract's items by their value over the line's span.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import ContractState
from billing.core.invoicing import one_off_lines
from billing.core.lines import ChargeLine
from billing.core.money import round_money
from billing.core.periods import Period, Zone
from billing.core.pricing import charges_for_period
from billing.core.risk import rate_to_json
from billing.core.supply import machines
from billing.core.terms import closed_end, fees_end, is_active, prorated_value

Tflops = Callable[[str], Decimal]
Resale = tuple[ContractState, str, Zone]


def _share(state: ContractState, line: ChargeLine, item_id: str, tz: Zone) -> Fraction:
    """The part of `line` that belongs to `item_id`: all of an item's own line, a value-weighted share
    of a whole-contract one-off line, nothing of another item's line."""
    if line.item_id is not None:
        return Fraction(line.amount) if line.item_id == item_id else Fraction(0)
    whole = prorated_value(state, line.period_start, line.period_end, tz)
    if whole == 0:
        return Fraction(0)
    part = prorated_value(state, line.period_start, line.period_end, tz, [item_id])
    return Fraction(line.amount) * part / whole


def item_charges(state: ContractState, item_id: str, period: Period, tz: Zone) -> Fraction:
    """What `item_id` of `state` is charged for `period`: its lines and its share of one-offs."""
    lines = [*charges_for_period(state, period, tz), *one_off_lines(state, period, tz)]
    return sum((_share(state, line, item_id, tz) for line in lines), Fraction(0))


def remaining_closed(state: ContractState, item_id: str, as_of: datetime, tz: Zone) -> Fraction:
    """`item_id`'s value over `[as_of, closed_end)`, cut at a termination."""
    end = min(closed_end(state.terms, tz), fees_end(state, tz))
    return prorated_value(state, as_of, end, tz, [item_id]) if as_of < end else Fraction(0)


@dataclass(frozen=True)
class MarginRow:
    supplier_id: str
    contract_id: str
    item_id: str
    gpu_model: str | None
    currency: str
    cost: Decimal
    revenue: Decimal
    margin: Decimal
    margin_rate: Fraction | None
    machines_bought: Fraction
    machines_resold: Fraction
    exposure: Decimal
    supplies: tuple[str, ...]

    def to_json(self) -> dict:
        def count(value: Fraction) -> str:
            return str(value.numerator) if value.denominator == 1 else format(round_money(value), "f")

        return {
            "supplier_id": self.supplier_id,
            "contract_id": self.contract_id,
            "item_id": self.item_id,
            "gpu_model": self.gpu_model,
            "currency": self.currency,
            "cost": format(self.cost, "f"),
            "revenue": format(self.revenue, "f"),
            "margin": format(self.margin, "f"),
            "margin_rate": None if self.margin_rate is None else rate_to_json(self.margin_rate),
            "machines_bought": count(self.machines_bought),
            "machines_resold": count(self.machines_resold),
            "exposure": format(self.exposure, "f"),
            "supplies": list(self.supplies),
        }


def margin_row(
    payable: ContractState,
    item_id: str,
    payable_tz: Zone,
    resales: list[Resale],
    period: Period,
    as_of: datetime,
    tflops: Tflops,
) -> MarginRow:
    """The row of one payable item for `period`, with exposure and machine counts at `as_of`."""
    cost = round_money(item_charges(payable, item_id, period, payable_tz))
    revenue = round_money(
        sum(
            (
                item_charges(state, tenant_item, period, tz)
                for state, tenant_item, tz in resales
                if state.currency == payable.currency
            ),
            Fraction(0),
        )
    )
    margin = revenue - cost
    signed = payable.terms.item(item_id)
    size = getattr(signed, "cards_per_machine", None) or 8
    counted_at = min(as_of, period.end(payable_tz) - timedelta(seconds=1))
    bought = (
        machines(payable.item_at(item_id, counted_at), tflops, size)
        if is_active(payable, counted_at, payable_tz)
        else Fraction(0)
    )
    resold = sum(
        (
            machines(state.item_at(tenant_item, counted_at), tflops, size)
            for state, tenant_item, tz in resales
            if is_active(state, counted_at, tz)
        ),
        Fraction(0),
    )
    owed = remaining_closed(payable, item_id, as_of, payable_tz)
    covered = sum(
        (
            remaining_closed(state, tenant_item, as_of, tz)
            for state, tenant_item, tz in resales
            if state.currency == payable.currency
        ),
        Fraction(0),
    )
    return MarginRow(
        supplier_id=payable.terms.supplier_id,
        contract_id=payable.id,
        item_id=item_id,
        gpu_model=getattr(signed, "gpu_model", None),
        currency=payable.currency,
        cost=cost,
        revenue=revenue,
        margin=margin,
        margin_rate=None if revenue == 0 else Fraction(margin) / Fraction(revenue),
        machines_bought=bought,
        machines_resold=resold,
        exposure=round_money(owed - covered),
        supplies=tuple(f"{state.id}/{tenant_item}" for state, tenant_item, _ in resales),
    )
