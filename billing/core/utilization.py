"""The fleet's utilisation figures for a period (SPEC §15) [pure]: card-hours and rates of a group.

Per GPU and period, in card-seconds:
- capacity: seconds in the fleet (from its first report to its retirement);
- reported: seconds a `gpu.status` covered; down: of those, reported down; lit = reported − down;
- allocated: seconds sold (the union of its `gpu.usage`); busy = Σ utilisation × allocated seconds (the
  usage's utilisation, else — for an hour of a node whose usage gave none — the `allocated` statuses');
- dark = capacity − reported (silent: no report arrived).
Rates: lit_rate = lit / capacity, allocation_rate = allocated / lit, busy_rate = busy / allocated,
each null when its denominator is 0. idle_value = (lit − allocated) card-hours × the model's list
price per card-hour (CNY), the revenue the idle cards did not earn: computed per model, never below
0, and null for a group holding a model without a list price (unknown is not zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.core.money import round_money, to_json
from metering.status import FleetSeconds

HOURS_PLACES = Decimal("0.000001")
RATE_PLACES = Decimal("0.0001")


def card_hours(seconds: int | Decimal) -> Decimal:
    """Card-hours to 6 places (3,600 card-seconds are one card-hour)."""
    return (Decimal(seconds) / 3600).quantize(HOURS_PLACES, rounding=ROUND_HALF_UP)


def rate(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """A ratio to 4 places, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def idle_value(parts: Mapping[str, FleetSeconds], prices: Mapping[str, Decimal]) -> Decimal | None:
    """Σ over models of max(0, lit − allocated) card-hours × list price, rounded once; None if a model
    of the group has no list price."""
    if any(model not in prices for model in parts):
        return None
    exact = sum((Decimal(max(0, s.lit - s.allocated)) * prices[m] / 3600 for m, s in parts.items()), Decimal(0))
    return round_money(exact)


@dataclass(frozen=True)
class Figures:
    """A group's figures: totals over its models, and its idle value."""

    seconds: FleetSeconds
    idle_value: Decimal | None

    def to_json(self, *, fleet: bool = True) -> dict:
        """Card-hours and rates as decimal strings; with ``fleet=False`` (a tenant's row) only what a
        tenant has: allocated and busy (capacity, status and idle belong to the fleet, not to a tenant)."""
        s = self.seconds

        def text(value):
            return None if value is None else format(value, "f")

        if not fleet:
            return {
                "capacity": None,
                "reported": None,
                "down": None,
                "lit": None,
                "allocated": text(card_hours(s.allocated)),
                "busy": text(card_hours(s.busy)),
                "dark": None,
                "lit_rate": None,
                "allocation_rate": None,
                "busy_rate": text(rate(s.busy, s.allocated)),
                "idle_value": None,
            }
        return {
            "capacity": text(card_hours(s.capacity)),
            "reported": text(card_hours(s.reported)),
            "down": text(card_hours(s.down)),
            "lit": text(card_hours(s.lit)),
            "allocated": text(card_hours(s.allocated)),
            "busy": text(card_hours(s.busy)),
            "dark": text(card_hours(s.dark)),
            "lit_rate": text(rate(s.lit, s.capacity)),
            "allocation_rate": text(rate(s.allocated, s.lit)),
            "busy_rate": text(rate(s.busy, s.allocated)),
            "idle_value": None if self.idle_value is None else to_json(self.idle_value),
        }


def figures(parts: Mapping[str, FleetSeconds], prices: Mapping[str, Decimal]) -> Figures:
    """The figures of a group from its per-model seconds."""
    total = sum(parts.values(), FleetSeconds())
    return Figures(total, idle_value(parts, prices))


def group(rows: Iterable[tuple[tuple, str, FleetSeconds]]) -> dict[tuple, dict[str, FleetSeconds]]:
    """``(group key, model, seconds)`` rows → {key: {model: seconds}}, parts of one key and model added."""
    grouped: dict[tuple, dict[str, FleetSeconds]] = {}
    for key, model, seconds in rows:
        parts = grouped.setdefault(key, {})
        parts[model] = parts.get(model, FleetSeconds()) + seconds
    return grouped
