"""Breach risk (SPEC §16): what a tenant would save by breaking its contract now and renting the same
capacity at market for the rest of the closed term.

For a contract inside its closed term at `as_of`, with a market for every capacity item:
- `remaining_closed_value` R: RMV prorated over `[as_of, closed_end)`, exactly as the termination does;
- market value M: the same items over the same stretch, each month priced at the market of `as_of`
  (the contract repriced and prorated by the very same rule);
- `drop` = 1 − M / R;
- `penalty`: the amount of the termination quote at `as_of` (`terms.termination_quote`, before tax);
- `saving_if_broken` = R × drop − penalty = R − M − penalty, rounded once;
- `break_even_rate` = the penalty rate (of R) at which the saving is 0: R × drop / R, never below 0;
- `at_risk` = saving > 0.
A contract in its open term is never at risk of a penalty: its row shows the notice it would cost
(notice in lieu from `as_of`, notice given then) and the month's drop. A capacity item whose model
has no market (or a `p_year` item with no model) is named in `missing_market`, and its contract gets
no drop or saving rather than a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from types import MappingProxyType

from billing.core.contracts import ContractState, GpuHourItem, Item, ItemVersion, MachineMonthItem, PYearItem
from billing.core.market import MarketRent
from billing.core.money import round_money, round_places
from billing.core.periods import Zone, instant_to_json, period_of, periods_overlapping
from billing.core.terms import closed_end, prorated_value, rmv, term_end, termination_quote

Market = Callable[[str], MarketRent | None]
"""The market for a GPU model (in the contract's currency, at `as_of`); None when none is known."""
Tflops = Callable[[str], Decimal]
"""FP16 dense TFLOPS per card of a model, from the catalog."""


def rate_to_json(rate: Fraction | Decimal) -> str:
    """A rate as a decimal string: four places, trailing zeros dropped down to two ("0.20", "0.2345")."""
    text = format(Decimal(round_places(rate, 4)).quantize(Decimal("0.0001"), ROUND_HALF_UP), "f")
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text


def capacity_items(state: ContractState) -> list[Item]:
    """The items that carry RMV: machines, P, committed card-hours (tokens carry none)."""
    found = []
    for item in state.terms.items:
        versions = state.timelines[item.id]
        if isinstance(item, MachineMonthItem | PYearItem) or any(
            isinstance(v.item, GpuHourItem) and v.item.committed_card_hours for v in versions
        ):
            found.append(item)
    return found


def _market_price(item: Item, rent: MarketRent, period, tz: Zone, tflops: Tflops) -> Decimal:
    """The item's unit price at market for `period`, in the item's own unit (exact as a Decimal)."""
    model_tflops = tflops(rent.gpu_model)
    if isinstance(item, MachineMonthItem):
        exact = rent.machine_month(item.cards_per_machine, period, tz, model_tflops)
    elif isinstance(item, PYearItem):
        exact = rent.p_year(period, tz, item.card_tflops or model_tflops)
    else:
        exact = rent.card_hour(period, tz, model_tflops)
    return Decimal(exact.numerator) / Decimal(exact.denominator)


def repriced(state: ContractState, prices: dict[str, Decimal]) -> ContractState:
    """`state` with each capacity item's unit price replaced by `prices[item id]`, every version."""
    timelines = {
        item_id: tuple(
            ItemVersion(v.effective_from, replace(v.item, unit_price=prices[item_id])) if item_id in prices else v
            for v in versions
        )
        for item_id, versions in state.timelines.items()
    }
    return replace(state, timelines=MappingProxyType(timelines))


def market_value(
    state: ContractState, start: datetime, end: datetime, tz: Zone, markets: dict[str, MarketRent], tflops: Tflops
) -> Fraction:
    """The capacity items over `[start, end)` at market, month by month (card-hours have months of
    different lengths), prorated by the same rule as the contract's own value."""
    total = Fraction(0)
    items = [item for item in capacity_items(state) if item.id in markets]
    for period in periods_overlapping(start, end, tz):
        prices = {item.id: _market_price(item, markets[item.id], period, tz, tflops) for item in items}
        low, high = max(start, period.start(tz)), min(end, period.end(tz))
        total += prorated_value(repriced(state, prices), low, high, tz, prices)
    return total


@dataclass(frozen=True)
class BreachRisk:
    """One row of the breach-risk report (money rounded to 0.01, rates exact until shown)."""

    contract_id: str
    tenant_id: str
    currency: str
    term: str
    closed_end: datetime
    term_end: datetime
    rmv: Decimal
    remaining_closed_value: Decimal
    market_value: Decimal | None
    drop: Fraction | None
    penalty: Decimal
    saving_if_broken: Decimal | None
    break_even_rate: Fraction | None
    at_risk: bool
    notice_cost: Decimal
    markets: tuple[str, ...]
    missing_market: tuple[str, ...]
    note: str

    def to_json(self) -> dict:
        def money(value):
            return None if value is None else format(value, "f")

        return {
            "contract_id": self.contract_id,
            "tenant_id": self.tenant_id,
            "currency": self.currency,
            "term": self.term,
            "closed_end": instant_to_json(self.closed_end),
            "term_end": instant_to_json(self.term_end),
            "rmv": money(self.rmv),
            "remaining_closed_value": money(self.remaining_closed_value),
            "market_value": money(self.market_value),
            "drop": None if self.drop is None else rate_to_json(self.drop),
            "penalty": money(self.penalty),
            "saving_if_broken": money(self.saving_if_broken),
            "break_even_rate": None if self.break_even_rate is None else rate_to_json(self.break_even_rate),
            "at_risk": self.at_risk,
            "notice_cost": money(self.notice_cost),
            "markets": list(self.markets),
            "missing_market": list(self.missing_market),
            "note": self.note,
        }


def breach_risk(state: ContractState, as_of: datetime, tz: Zone, market: Market, tflops: Tflops) -> BreachRisk | None:
    """The row of `state` at `as_of`, or None when the contract is not running then (not started,
    ended, or terminated: a termination already recorded is a breach decided, not a risk)."""
    terms = state.terms
    end_closed, end_term = closed_end(terms, tz), term_end(terms, tz)
    if state.terminated_at is not None or not terms.start <= as_of < end_term:
        return None
    markets: dict[str, MarketRent] = {}
    missing: list[str] = []
    for item in capacity_items(state):
        model = getattr(item, "gpu_model", None)
        rent = None if model is None else market(model)
        if rent is None:
            why = "no GPU model to price it by" if model is None else f"no {terms.currency} market rent for {model}"
            missing.append(f"{item.id}: {why} at or before {instant_to_json(as_of)}")
        else:
            markets[item.id] = rent
    quote = termination_quote(state, as_of, None, tz)
    shown = tuple(
        f"{item_id}: {r.price} {r.currency}/{r.unit} {r.gpu_model} ({r.source}, {instant_to_json(r.observed_at)})"
        for item_id, r in markets.items()
    )
    common = dict(
        contract_id=state.id,
        tenant_id=terms.party_id,
        currency=terms.currency,
        closed_end=end_closed,
        term_end=end_term,
        rmv=round_money(rmv(state, as_of)),
        markets=shown,
        missing_market=tuple(missing),
    )
    if as_of >= end_closed:
        month = period_of(as_of, tz)
        value_now = prorated_value(state, month.start(tz), month.end(tz), tz)
        drop = None
        if not missing and value_now:
            drop = 1 - market_value(state, month.start(tz), month.end(tz), tz, markets, tflops) / value_now
        return BreachRisk(
            **common,
            term="open",
            remaining_closed_value=Decimal("0.00"),
            market_value=None,
            drop=drop,
            penalty=Decimal("0.00"),
            saving_if_broken=None,
            break_even_rate=None,
            at_risk=False,
            notice_cost=quote.amount,
            note=(
                f"open term: no penalty; ending it costs {terms.notice_days} days' notice, "
                f"{format(quote.amount, 'f')} {terms.currency} in lieu if notice were given "
                f"at {instant_to_json(as_of)}"
            ),
        )
    remaining = prorated_value(state, as_of, end_closed, tz)
    penalty = quote.amount
    if missing or remaining == 0:
        note = "no market for " + "; ".join(missing) if missing else "nothing remains of the closed term"
        return BreachRisk(
            **common,
            term="closed",
            remaining_closed_value=quote.remaining_closed_value,
            market_value=None,
            drop=None,
            penalty=penalty,
            saving_if_broken=None,
            break_even_rate=None,
            at_risk=False,
            notice_cost=Decimal("0.00"),
            note=note,
        )
    at_market = market_value(state, as_of, end_closed, tz, markets, tflops)
    drop = 1 - at_market / remaining
    saving = round_money(remaining * drop - Fraction(penalty))
    break_even = max(Fraction(0), remaining * drop / remaining)
    at_risk = saving > 0
    note = (
        f"breaking now saves {format(saving, 'f')} {terms.currency} after the penalty"
        if at_risk
        else f"staying is cheaper: a penalty rate below {rate_to_json(break_even)} would make breaking pay"
    )
    return BreachRisk(
        **common,
        term="closed",
        remaining_closed_value=quote.remaining_closed_value,
        market_value=round_money(at_market),
        drop=drop,
        penalty=penalty,
        saving_if_broken=saving,
        break_even_rate=break_even,
        at_risk=at_risk,
        notice_cost=Decimal("0.00"),
        note=note,
    )


def sort_rows(rows: list[BreachRisk]) -> list[BreachRisk]:
    """Largest saving first; rows without a saving (open term, no market) after, by contract id."""
    return sorted(rows, key=lambda r: (r.saving_if_broken is None, -(r.saving_if_broken or 0), r.contract_id))
