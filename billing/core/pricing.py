"""What one contract charges for one billing period (SPEC §5).

Let f be the fraction of the month an item is active (active seconds / seconds in the month):
- machine_month: `unit_price × machines × f`, one line per stretch of constant `machines`;
- p_year: `unit_price × P / 12 × f`, one line per stretch of constant P, rounded as a running total
  over the contract year (`billing.core.p_year`): twelve full months make exactly the annual price;
- gpu_hour: `unit_price × card_seconds / 3600` from rated usage inside the period; with a
  commitment, `gpu_hour_shortfall`: `unit_price × max(0, Σ committed × f − used_hours)`;
- token: one line per item, `Σ price_kind × tokens_kind / 1,000,000` over input, output and cached
  input, rounded once; quantity in millions of tokens, the description gives each kind's count and price.
Fees run from `start` to `term_end` or an earlier termination. Each amount is computed exactly
and rounded once (`billing.lines.charge_line`); lines of no quantity (no machines, no usage,
no shortfall, no tokens) are left out; a line with a quantity whose amount rounds to 0.00 is kept, so
the usage is on the bill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from billing.core.contracts import ContractState, GpuHourItem, MachineMonthItem, PYearItem, TokenItem
from billing.core.lines import ChargeLine, charge_line, span_text
from billing.core.money import round_places, to_json
from billing.core.p_year import running_amount, year_cuts
from billing.core.periods import Period, Zone, active_fraction, overlap
from billing.core.terms import fees_end

__all__ = ["TOKEN_KINDS", "ChargeLine", "Usage", "charges_for_period"]

TOKEN_KINDS = ("input", "output", "cached")
"""Token kinds as metering counts them; "cached" is priced at the item's `cached_input_price`."""
_TOKEN_PRICE = {"input": "input_price", "output": "output_price", "cached": "cached_input_price"}
_TOKEN_NAME = {"input": "input", "output": "output", "cached": "cached input"}


@dataclass(frozen=True)
class Usage:
    """Rated usage of one period, as plain numbers.

    card_seconds: (contract_id, item_id) → card-seconds inside the period (whole seconds).
    tokens: (contract_id, item_id, kind) → tokens whose event time is inside the period.
    """

    card_seconds: Mapping[tuple[str, str], int] = field(default_factory=dict)
    tokens: Mapping[tuple[str, str, str], int] = field(default_factory=dict)

    def card_seconds_of(self, contract_id: str, item_id: str) -> int:
        return self.card_seconds.get((contract_id, item_id), 0)

    def tokens_of(self, contract_id: str, item_id: str, kind: str) -> int:
        return self.tokens.get((contract_id, item_id, kind), 0)

    def __add__(self, other: Usage) -> Usage:
        card_seconds = dict(self.card_seconds)
        for key, seconds in other.card_seconds.items():
            card_seconds[key] = card_seconds.get(key, 0) + seconds
        tokens = dict(self.tokens)
        for key, count in other.tokens.items():
            tokens[key] = tokens.get(key, 0) + count
        return Usage(card_seconds, tokens)


def charges_for_period(state: ContractState, period: Period, tz: Zone, usage: Usage | None = None) -> list[ChargeLine]:
    """Every line `state` charges for `period` in `tz`, in item order (SPEC §5); [] outside its term.

    usage: this period's rated usage (see `billing.rating.rate_period`); None means none.
    """
    usage = usage or Usage()
    window = overlap(state.terms.start, fees_end(state, tz), period.start(tz), period.end(tz))
    lines: list[ChargeLine] = []
    for signed in state.terms.items:
        pricer = _PRICERS[type(signed)]
        lines.extend(pricer(_ItemContext(state, signed.id, period, tz, window), usage))
    return lines


@dataclass(frozen=True)
class _ItemContext:
    state: ContractState
    item_id: str
    period: Period
    tz: Zone
    window: tuple[datetime, datetime] | None
    """The part of the period in which fees run; None when none does."""

    def segments(self):
        return [] if self.window is None else self.state.segments(self.item_id, *self.window)

    def fraction(self, start: datetime, end: datetime) -> Fraction:
        return active_fraction(start, end, self.period, self.tz)

    def span(self) -> tuple[datetime, datetime]:
        return self.window or (self.period.start(self.tz), self.period.end(self.tz))

    def line(self, kind, description, quantity, unit, unit_price, exact, start, end) -> ChargeLine:
        terms = self.state.terms
        return charge_line(
            kind=kind,
            contract_id=terms.id,
            item_id=self.item_id,
            description=f"{description}, {span_text(start, end, self.tz)}",
            quantity=quantity,
            unit=unit,
            unit_price=unit_price,
            exact_amount=exact,
            tax_rate=terms.tax_rate,
            period_start=start,
            period_end=end,
            currency=terms.currency,
        )


def _machine_month(ctx: _ItemContext, usage: Usage) -> list[ChargeLine]:
    lines = []
    for start, end, item in ctx.segments():
        assert isinstance(item, MachineMonthItem)
        machine_months = item.machines * ctx.fraction(start, end)
        if machine_months:
            what = f"{item.machines} × {item.cards_per_machine}×{item.gpu_model} machine{'s' * (item.machines != 1)}"
            exact = machine_months * Fraction(item.unit_price)
            lines.append(
                ctx.line("machine_month", what, machine_months, "machine-month", item.unit_price, exact, start, end)
            )
    return lines


def _p_year(ctx: _ItemContext, usage: Usage) -> list[ChargeLine]:
    """One line per stretch of constant P, cut at contract-year starts; amounts by the running total over
    the contract year (`billing.core.p_year`), so twelve months make exactly the annual price."""
    lines = []
    for segment_start, segment_end, item in ctx.segments():
        assert isinstance(item, PYearItem)
        for start, end in year_cuts(ctx.state.terms.start, segment_start, segment_end, ctx.tz):
            p_months = Fraction(item.capacity_p) * ctx.fraction(start, end)
            if not p_months:
                continue
            model = (
                f" ({item.machines} × {item.cards_per_machine}×{item.gpu_model})"
                if item.machines
                else (f" ({item.gpu_model})" if item.gpu_model else "")
            )
            what = f"{item.capacity_p.normalize():f} P capacity{model} at {to_json(item.unit_price)}/P-year"
            amount = running_amount(ctx.state, ctx.item_id, start, end, ctx.tz)
            lines.append(
                ctx.line("p_year", what, p_months, "P-month", Fraction(item.unit_price) / 12, amount, start, end)
            )
    return lines


def _gpu_hour(ctx: _ItemContext, usage: Usage) -> list[ChargeLine]:
    item = ctx.state.terms.item(ctx.item_id)
    assert isinstance(item, GpuHourItem)
    used_seconds = usage.card_seconds_of(ctx.state.id, ctx.item_id)
    used_hours = Fraction(used_seconds, 3600)
    start, end = ctx.span()
    lines = []
    if used_seconds:
        exact = used_hours * Fraction(item.unit_price)
        lines.append(
            ctx.line(
                "gpu_hour", f"{item.gpu_model} card-hours", used_hours, "card-hour", item.unit_price, exact, start, end
            )
        )
    committed = sum(
        (Fraction(piece.committed_card_hours or 0) * ctx.fraction(s, e) for s, e, piece in ctx.segments()),
        Fraction(0),
    )
    shortfall = max(Fraction(0), committed - used_hours)
    if shortfall:
        what = f"{item.gpu_model} commitment shortfall ({_hours(committed)} committed, {_hours(used_hours)} used)"
        exact = shortfall * Fraction(item.unit_price)
        lines.append(ctx.line("gpu_hour_shortfall", what, shortfall, "card-hour", item.unit_price, exact, start, end))
    return lines


def _token(ctx: _ItemContext, usage: Usage) -> list[ChargeLine]:
    item = ctx.state.terms.item(ctx.item_id)
    assert isinstance(item, TokenItem)
    model = "all models" if item.model == "*" else item.model
    start, end = ctx.span()
    counts = {kind: usage.tokens_of(ctx.state.id, ctx.item_id, kind) for kind in TOKEN_KINDS}
    total = sum(counts.values())
    if not total:
        return []
    # One line per item, as SPEC §5 sums the kinds: Σ price_kind × tokens_kind / 1,000,000, rounded
    # once. The description carries each kind's count and price; the unit price is the blend.
    exact = sum(
        (Fraction(n, 1_000_000) * Fraction(getattr(item, _TOKEN_PRICE[k])) for k, n in counts.items()), Fraction(0)
    )
    millions = Fraction(total, 1_000_000)
    parts = ", ".join(
        f"{n:,} {_TOKEN_NAME[k]} × {to_json(getattr(item, _TOKEN_PRICE[k]))}" for k, n in counts.items() if n
    )
    what = f"{model} tokens ({parts} per 1M)"
    return [ctx.line("token", what, millions, "1M tokens", exact / millions, exact, start, end)]


def _hours(hours: Fraction) -> str:
    return to_json(round_places(hours, 2))


_PRICERS = {
    MachineMonthItem: _machine_month,
    PYearItem: _p_year,
    GpuHourItem: _gpu_hour,
    TokenItem: _token,
}
