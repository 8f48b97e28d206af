"""The contract's term: closed and open, RMV, and what ending it early costs (SPEC §4, §5, §6).

`closed_end = start + closed_months` and `term_end = closed_end + open_months`, in calendar months of
the tenant's timezone, each step clamping a day past a month's end to its last day (SPEC §4):
2026-01-31 + 1 closed + 1 open month → closed_end 02-28, term_end 03-28.

Inside the closed term (take-or-pay) ending early costs a penalty: `rate × remaining_closed_value`,
or `months × RMV`. In the open term it costs notice: RMV prorated from `effective_at` to
`notice_given_at + notice_days` when that is later (capped at term_end). Money is exact `Fraction`
until a line rounds it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import ContractAmended, ContractState, ContractTerms, ItemChanges, apply, with_changes
from billing.core.lines import ChargeLine, charge_line, span_text
from billing.core.money import round_money, to_json
from billing.core.periods import (
    Period,
    Zone,
    active_fraction,
    add_days,
    add_months,
    period_of,
    periods_overlapping,
    require_aware,
)
from kashi.errors import ContractClosed, PeriodAlreadyClosed, ValidationFailed


def closed_end(terms: ContractTerms, tz: Zone) -> datetime:
    """End of the closed (take-or-pay) term: `start + closed_months` in `tz`, aware UTC."""
    return add_months(terms.start, terms.closed_months, tz)


def term_end(terms: ContractTerms, tz: Zone) -> datetime:
    """End of the whole term: `closed_end + open_months` in `tz`, aware UTC (SPEC §4, literally:
    a start on the 31st with one closed month ends its closed term on Feb 28, and the open term
    counts on from there)."""
    return add_months(closed_end(terms, tz), terms.open_months, tz)


def fees_end(state: ContractState, tz: Zone) -> datetime:
    """When fees stop: term_end, or the termination's effective_at when earlier (SPEC §4)."""
    end = term_end(state.terms, tz)
    return end if state.terminated_at is None else min(end, state.terminated_at)


def is_active(state: ContractState, instant: datetime, tz: Zone) -> bool:
    """Whether fees run at `instant`: `start <= instant < fees_end`."""
    return state.terms.start <= instant < fees_end(state, tz)


def rmv(state: ContractState, instant: datetime) -> Fraction:
    """Recurring monthly value at `instant` (SPEC §5), exact, in the contract's currency.

    `machines × unit_price + P × unit_price / 12 + committed_card_hours × unit_price`, items in force.
    """
    return sum((item.monthly_value() for item in state.items_at(instant)), Fraction(0))


def prorated_value(
    state: ContractState, start: datetime, end: datetime, tz: Zone, item_ids: Iterable[str] | None = None
) -> Fraction:
    """RMV prorated over `[start, end)` month by month with the `f` rule, following amendments, exact."""
    wanted = {item.id for item in state.terms.items} if item_ids is None else set(item_ids)
    total = Fraction(0)
    for period in periods_overlapping(start, end, tz):
        for item_id in (item.id for item in state.terms.items if item.id in wanted):
            for piece_start, piece_end, item in state.segments(item_id, start, end):
                total += item.monthly_value() * active_fraction(piece_start, piece_end, period, tz)
    return total


def month_equivalents(start: datetime, end: datetime, tz: Zone) -> Fraction:
    """How many billing months `[start, end)` is worth: Σ f over the months it touches."""
    return sum((active_fraction(start, end, p, tz) for p in periods_overlapping(start, end, tz)), Fraction(0))


def remaining_closed_value(state: ContractState, effective_at: datetime, tz: Zone) -> Fraction:
    """RMV prorated over `[effective_at, closed_end)` (SPEC §6); 0 from closed_end on."""
    return prorated_value(state, effective_at, closed_end(state.terms, tz), tz)


def validate_termination(state: ContractState, effective_at: datetime, tz: Zone) -> None:
    """A termination must come once, not before `start` and before `term_end` (ContractClosed after)."""
    require_aware(effective_at, "effective_at")
    if state.terminated_at is not None:
        raise ContractClosed(f"contract {state.id} is already terminated from {state.terminated_at}")
    if effective_at < state.terms.start:
        raise ValidationFailed.of("effective_at", "must not be before the contract's start")
    if effective_at >= term_end(state.terms, tz):
        raise ContractClosed(f"contract {state.id} ends on its own at {term_end(state.terms, tz)}")


def validate_amendment(
    state: ContractState, item_id: str, changes: ItemChanges, effective_at: datetime, tz: Zone
) -> None:
    """An amendment needs a live contract, a known item, a change that item has, and a date in the term."""
    require_aware(effective_at, "effective_at")
    if state.terminated_at is not None or effective_at >= fees_end(state, tz):
        raise ContractClosed(f"contract {state.id} has ended or is terminated; it cannot be amended")
    if effective_at < state.terms.start:
        raise ValidationFailed.of("effective_at", "must not be before the contract's start")
    versions = state.timelines.get(item_id)
    if versions is None:
        raise ValidationFailed.of("item_id", f"contract {state.id} has no item {item_id!r}")
    if effective_at < versions[-1].effective_from:
        raise ValidationFailed.of("effective_at", "must not be before the item's last change")
    with_changes(versions[-1].item, changes)


def ensure_period_open(effective_at: datetime, tz: Zone, closed_periods: Iterable[Period]) -> None:
    """Raise PeriodAlreadyClosed when a change effective at `effective_at` would rewrite a closed period:
    its own period, or any later one, is closed (SPEC §7)."""
    period = period_of(effective_at, tz)
    latest = max(closed_periods, default=None)
    if latest is not None and latest >= period:
        raise PeriodAlreadyClosed(
            f"period {latest} is closed; a change effective in {period} would alter it",
            [{"field": "effective_at", "reason": f"falls in or before closed period {latest}"}],
        )


def termination_lines(
    state: ContractState, effective_at: datetime, notice_given_at: datetime | None, tz: Zone
) -> list[ChargeLine]:
    """The one-off lines of terminating `state` at `effective_at` (SPEC §6); validates first.

    notice_given_at: when the tenant gave notice; None means at `effective_at`.
    Inside the closed term: one `penalty` line (none without a penalty clause). Inside the open term:
    one `notice_in_lieu` line when notice runs past `effective_at`. Fees themselves stop at effective_at.
    """
    validate_termination(state, effective_at, tz)
    terms = state.terms
    end_closed = closed_end(terms, tz)
    if effective_at < end_closed:
        penalty = terms.penalty
        if penalty is None:
            return []
        if penalty.basis == "remaining_closed_value":
            remaining = remaining_closed_value(state, effective_at, tz)
            exact, quantity, unit, unit_price = (
                Fraction(penalty.rate) * remaining,
                round_money(remaining),
                (f"{terms.currency} of remaining closed value"),
                penalty.rate,
            )
            what = f"{_percent(penalty.rate)} of remaining closed value {to_json(round_money(remaining))}"
        else:
            monthly = rmv(state, effective_at)
            exact, quantity, unit, unit_price = penalty.months * monthly, penalty.months, "RMV-month", monthly
            what = f"{penalty.months} months of RMV"
        description = f"Early termination penalty: {what} ({span_text(effective_at, end_closed, tz)})"
        return [
            _line(
                state,
                "penalty",
                None,
                description,
                quantity,
                unit,
                unit_price,
                exact,
                effective_at,
                end_closed,
            )
        ]
    notice_end = min(add_days(notice_given_at or effective_at, terms.notice_days, tz), term_end(terms, tz))
    if notice_end <= effective_at:
        return []
    exact = prorated_value(state, effective_at, notice_end, tz)
    if exact == 0:
        return []
    months = month_equivalents(effective_at, notice_end, tz)
    description = f"Notice in lieu, {terms.notice_days} days' notice ({span_text(effective_at, notice_end, tz)})"
    return [
        _line(
            state,
            "notice_in_lieu",
            None,
            description,
            months,
            "RMV-month",
            rmv(state, effective_at),
            exact,
            effective_at,
            notice_end,
        )
    ]


def amendment_penalty_lines(
    state: ContractState, item_id: str, changes: ItemChanges, effective_at: datetime, tz: Zone
) -> list[ChargeLine]:
    """The penalty of a reduction inside the closed term: a partial termination (SPEC §4).

    Charged on the part removed: `rate × (remaining closed value of the item before − after)`, or
    `months × (monthly value before − after)`. Increases, open-term changes and contracts without
    a penalty clause give no line. `state` is the contract before the amendment.
    """
    terms, end_closed = state.terms, closed_end(state.terms, tz)
    if terms.penalty is None or effective_at >= end_closed:
        return []
    amended = apply(state, _hypothetical(state, item_id, changes, effective_at))
    penalty = terms.penalty
    if penalty.basis == "remaining_closed_value":
        removed = prorated_value(state, effective_at, end_closed, tz, [item_id]) - prorated_value(
            amended, effective_at, end_closed, tz, [item_id]
        )
        exact, quantity, unit, unit_price = (
            Fraction(penalty.rate) * removed,
            round_money(removed),
            (f"{terms.currency} of removed closed value"),
            penalty.rate,
        )
        what = f"{_percent(penalty.rate)} of removed closed value {to_json(round_money(removed))}"
    else:
        removed = (
            state.item_at(item_id, effective_at).monthly_value()
            - amended.item_at(item_id, effective_at).monthly_value()
        )
        exact, quantity, unit, unit_price = (
            penalty.months * removed,
            penalty.months,
            "month of removed RMV",
            removed,
        )
        what = f"{penalty.months} months of the removed monthly value"
    if removed <= 0:
        return []
    description = f"Partial termination penalty on {item_id}: {what} ({span_text(effective_at, end_closed, tz)})"
    return [
        _line(
            state,
            "penalty",
            item_id,
            description,
            quantity,
            unit,
            unit_price,
            exact,
            effective_at,
            end_closed,
        )
    ]


def _percent(rate: Decimal) -> str:
    return format((rate * 100).normalize(), "f") + "%"


def _hypothetical(state: ContractState, item_id: str, changes: ItemChanges, effective_at: datetime):
    return ContractAmended(
        contract_id=state.id,
        item_id=item_id,
        changes=changes,
        effective_at=effective_at,
        version=state.version + 1,
        recorded_at=effective_at,
        actor="quote",
    )


def _line(state, kind, item_id, description, quantity, unit, unit_price, exact, start, end) -> ChargeLine:
    return charge_line(
        kind=kind,
        contract_id=state.id,
        item_id=item_id,
        description=description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        exact_amount=exact,
        tax_rate=state.terms.tax_rate,
        period_start=start,
        period_end=end,
        currency=state.currency,
    )


@dataclass(frozen=True)
class TerminationQuote:
    """GET …/termination-quote (SPEC §6): the figures a termination at `effective_at` would produce.

    in_closed_term: whether effective_at falls before closed_end.
    remaining_closed_value: rounded to 0.01 (0 in the open term). lines: exactly the lines terminating
    would add; amount / tax / total: their sums.
    """

    effective_at: datetime
    closed_end: datetime
    term_end: datetime
    in_closed_term: bool
    remaining_closed_value: Decimal
    lines: tuple[ChargeLine, ...]
    amount: Decimal
    tax: Decimal
    total: Decimal


def termination_quote(
    state: ContractState, effective_at: datetime, notice_given_at: datetime | None, tz: Zone
) -> TerminationQuote:
    """What terminating at `effective_at` would charge, without acting: `termination_lines`' lines."""
    lines = tuple(termination_lines(state, effective_at, notice_given_at, tz))
    amount = sum((line.amount for line in lines), Decimal("0.00"))
    tax = sum((line.tax for line in lines), Decimal("0.00"))
    end_closed = closed_end(state.terms, tz)
    return TerminationQuote(
        effective_at=effective_at,
        closed_end=end_closed,
        term_end=term_end(state.terms, tz),
        in_closed_term=effective_at < end_closed,
        remaining_closed_value=round_money(remaining_closed_value(state, effective_at, tz)),
        lines=lines,
        amount=amount,
        tax=tax,
        total=amount + tax,
    )
