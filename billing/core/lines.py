"""One invoice line: what is charged, for which item and span, with its tax (SPEC §2, §7).

A line's amount is computed exactly elsewhere and rounded once here (`charge_line`), ROUND_HALF_UP
to 0.01; its tax is `round_money(amount × tax_rate)`. `quantity` and `unit_price` explain the amount
to a person and are rounded to 6 places for display; the amount is never recomputed from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from billing.core.money import PRICE_PLACES, Exact, line_tax, round_money, round_places, to_json
from billing.core.periods import Period, Zone, instant_to_json, zone

LineKind = Literal[
    "machine_month",
    "p_year",
    "gpu_hour",
    "gpu_hour_shortfall",
    "token",
    "penalty",
    "notice_in_lieu",
    "adjustment",
    "sla_credit",
]
KINDS: tuple[str, ...] = LineKind.__args__
"""Every line kind, in the order an invoice lists them within one item."""


@dataclass(frozen=True, kw_only=True)
class ChargeLine:
    """An invoice line (SPEC §7 line JSON).

    kind: one of KINDS. contract_id / item_id: what it charges for; item_id is None for a
        contract-wide line (a termination penalty or notice in lieu).
    quantity / unit: e.g. 60 "machine-month", 1000.5 "card-hour", 1.2 "1M tokens".
    unit_price: price per unit (up to 6 places). amount: rounded once to 0.01.
    tax_rate / tax: tax is per line. period_start / period_end: aware UTC, the span charged, [start, end).
    currency: the contract's; not part of the line's JSON (the invoice carries it).
    """

    kind: LineKind
    contract_id: str
    item_id: str | None
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal
    period_start: datetime
    period_end: datetime
    currency: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contract_id": self.contract_id,
            "item_id": self.item_id,
            "description": self.description,
            "quantity": format(self.quantity, "f"),
            "unit": self.unit,
            "unit_price": to_json(self.unit_price),
            "amount": to_json(self.amount),
            "tax_rate": str(self.tax_rate),
            "tax": to_json(self.tax),
            "period_start": instant_to_json(self.period_start),
            "period_end": instant_to_json(self.period_end),
        }


def charge_line(
    *,
    kind: LineKind,
    contract_id: str,
    item_id: str | None,
    description: str,
    quantity: Exact,
    unit: str,
    unit_price: Exact,
    exact_amount: Exact,
    tax_rate: Decimal,
    period_start: datetime,
    period_end: datetime,
    currency: str,
) -> ChargeLine:
    """A ChargeLine from an exact amount: the single rounding of SPEC §2 happens here."""
    amount = round_money(exact_amount)
    return ChargeLine(
        kind=kind,
        contract_id=contract_id,
        item_id=item_id,
        description=description,
        quantity=_display(quantity),
        unit=unit,
        unit_price=_display(unit_price),
        amount=amount,
        tax_rate=tax_rate,
        tax=line_tax(amount, tax_rate),
        period_start=period_start,
        period_end=period_end,
        currency=currency,
    )


def _display(value: Exact) -> Decimal:
    """A quantity or price to at most 6 places, trailing zeros beyond 2 places dropped."""
    if isinstance(value, Decimal) and -value.as_tuple().exponent <= PRICE_PLACES:
        return value
    if isinstance(value, int) or (isinstance(value, Fraction) and value.denominator == 1):
        return Decimal(int(value))
    rounded = round_places(value, PRICE_PLACES).normalize()
    return rounded if rounded.as_tuple().exponent < -2 else rounded.quantize(Decimal("0.01"))


def span_text(start: datetime, end: datetime, tz: Zone) -> str:
    """A span for a description, in local dates: "2026-10" for a whole month, else
    "2026-10-15 – 2026-10-31" (end inclusive when it falls at local midnight), with times when needed."""
    local_tz: tzinfo = zone(tz)
    first, after = start.astimezone(local_tz), end.astimezone(local_tz)
    period = Period(first.year, first.month)
    if start == period.start(local_tz) and end == period.end(local_tz):
        return str(period)
    start_text = first.strftime("%Y-%m-%d") if first.time() == first.min.time() else first.strftime("%Y-%m-%d %H:%M")
    if after.time() == after.min.time():
        end_text = (after - timedelta(days=1)).strftime("%Y-%m-%d")
    else:
        end_text = after.strftime("%Y-%m-%d %H:%M")
    return start_text if start_text == end_text else f"{start_text} – {end_text}"
