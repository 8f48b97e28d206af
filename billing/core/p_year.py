"""`p_year` lines as a running-total rounding over the item's contract year (SPEC §5)          [pure]

The exact charge of a `p_year` item over a stretch is Σ per month of `unit_price × P / 12 × f` (f: the
month's fraction the item is active with capacity P). Rounding each month on its own would lose or
gain up to half a cent a month (5.92 P at 1,000,000.00 is 493,333.333… a month: twelve rounded months
make 5,919,999.96), so a line is instead

    round(exact charges from the start of its contract year through the end of the line)
  − round(exact charges from the start of its contract year through the start of the line)

Contract years run from the contract start, in whole calendar months of the tenant's timezone
(`add_months(start, 12 k)`). A line never crosses the start of a contract year (it is cut there), so the
lines of a year sum to the year's exact charges rounded once — `unit_price × P` for a year in force
throughout — and each line is less than 0.01 from its own exact amount.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import ContractState, PYearItem
from billing.core.money import round_money
from billing.core.periods import Zone, active_fraction, add_months, overlap, periods_overlapping
from billing.core.terms import fees_end


def year_start(contract_start: datetime, instant: datetime, tz: Zone) -> datetime:
    """The start of the contract year holding `instant` (the contract start when `instant` is before it)."""
    years = 0
    while add_months(contract_start, 12 * (years + 1), tz) <= instant:
        years += 1
    return add_months(contract_start, 12 * years, tz)


def year_cuts(contract_start: datetime, start: datetime, end: datetime, tz: Zone) -> list[tuple[datetime, datetime]]:
    """`[start, end)` cut at the starts of contract years inside it."""
    pieces, low = [], start
    while low < end:
        high = min(end, add_months(year_start(contract_start, low, tz), 12, tz))
        pieces.append((low, high))
        low = high
    return pieces


def exact_charges(state: ContractState, item_id: str, since: datetime, until: datetime, tz: Zone) -> Fraction:
    """The exact charge of `p_year` item `item_id` over `[since, until)`: Σ unit_price × P / 12 × f, month by
    month, over the stretches in which fees run."""
    window = overlap(state.terms.start, fees_end(state, tz), since, until)
    if window is None:
        return Fraction(0)
    total = Fraction(0)
    for low, high, item in state.segments(item_id, *window):
        assert isinstance(item, PYearItem)
        monthly = Fraction(item.capacity_p) * Fraction(item.unit_price) / 12
        for period in periods_overlapping(low, high, tz):
            total += monthly * active_fraction(low, high, period, tz)
    return total


def running_amount(state: ContractState, item_id: str, start: datetime, end: datetime, tz: Zone) -> Decimal:
    """The rounded amount of the line charging `[start, end)` (inside one contract year): the running
    total of the year through `end`, rounded, minus the same through `start`, rounded."""
    first = year_start(state.terms.start, start, tz)
    through_end = round_money(exact_charges(state, item_id, first, end, tz))
    through_start = round_money(exact_charges(state, item_id, first, start, tz))
    return through_end - through_start
