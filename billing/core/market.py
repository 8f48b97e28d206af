"""Market rents (SPEC §16): observations of what capacity rents for, and their units converted explicitly.

An observation prices one GPU model in one of three units, with a source and the instant it was seen:
- `machine_month`: one machine of `cards_per_machine` cards (8 unless said) for a billing month;
- `card_hour`: one card for one hour (卡时);
- `p_year`: one P (1 PFLOPS FP16 dense) for a year.
The market at `as_of` is the latest observation at or before `as_of` for the model and currency
(whatever its unit). Conversions go through the price of one card for one billing month, exactly:
a card-hour price × the hours of that month; a machine-month price ÷ its cards; a P-year price ×
the card's TFLOPS ÷ 1000 ÷ 12. Nothing is guessed: no observation means no market.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.core.contracts import DEFAULT_CARDS_PER_MACHINE
from billing.core.money import PRICE_PLACES, parse_amount, validate_currency
from billing.core.periods import Period, Zone, seconds_in
from kashi.errors import ValidationFailed

UNITS = ("machine_month", "card_hour", "p_year")
FIELDS = {"gpu_model", "unit", "price", "currency", "observed_at", "source", "cards_per_machine"}


@dataclass(frozen=True, kw_only=True)
class MarketRent:
    """One observation: `price` per `unit` of `gpu_model`, in `currency`, seen at `observed_at`.

    cards_per_machine: the machine a `machine_month` price is for (8 by default); unused otherwise.
    """

    gpu_model: str
    unit: str
    price: Decimal
    currency: str
    observed_at: datetime
    source: str
    cards_per_machine: int = DEFAULT_CARDS_PER_MACHINE

    def card_month(self, period: Period, tz: Zone, card_tflops: Decimal) -> Fraction:
        """What one card rents for over the whole billing month `period` (in `tz`), exactly."""
        price = Fraction(self.price)
        if self.unit == "machine_month":
            return price / self.cards_per_machine
        if self.unit == "card_hour":
            return price * Fraction(seconds_in(period, tz), 3600)
        return price * Fraction(card_tflops) / 1000 / 12

    def machine_month(self, cards: int, period: Period, tz: Zone, card_tflops: Decimal) -> Fraction:
        """A machine of `cards` cards for the month: card-month × cards."""
        return self.card_month(period, tz, card_tflops) * cards

    def card_hour(self, period: Period, tz: Zone, card_tflops: Decimal) -> Fraction:
        """One card-hour, at the month's hours."""
        return self.card_month(period, tz, card_tflops) / Fraction(seconds_in(period, tz), 3600)

    def p_year(self, period: Period, tz: Zone, card_tflops: Decimal) -> Fraction:
        """One P for a year: 1000 / TFLOPS cards for twelve months."""
        return self.card_month(period, tz, card_tflops) * 12 * 1000 / Fraction(card_tflops)


def latest(rents: Iterable[MarketRent], gpu_model: str, currency: str, as_of: datetime) -> MarketRent | None:
    """The market at `as_of`: the latest observation of `gpu_model` in `currency` at or before it
    (of two seen at the same instant, the one recorded last); None when there is none."""
    found = None
    for rent in rents:
        same = rent.gpu_model == gpu_model and rent.currency == currency and rent.observed_at <= as_of
        if same and (found is None or rent.observed_at >= found.observed_at):
            found = rent
    return found


def parse_rent(payload: object, known_models: Iterable[str], parse_instant) -> MarketRent:
    """A MarketRent from the body of POST /v1/market/rents, or one ValidationFailed naming every bad field.

    parse_instant: `(value, field) -> aware datetime`, the contracts' RFC 3339 reader.
    """
    if not isinstance(payload, Mapping):
        raise ValidationFailed.of("body", "must be a JSON object")
    unknown = sorted(set(payload) - FIELDS)
    problems: list[dict[str, str]] = [{"field": key, "reason": "unknown field"} for key in unknown]
    values: dict = {}

    def attempt(field: str, read) -> None:
        if field not in payload and field != "cards_per_machine":
            problems.append({"field": field, "reason": "is required"})
            return
        try:
            values[field] = read(payload.get(field))
        except ValidationFailed as error:
            problems.extend(error.details or [{"field": field, "reason": error.message}])

    models = set(known_models)

    def model(value):
        if not isinstance(value, str) or value not in models:
            raise ValidationFailed.of("gpu_model", f"unknown GPU model {value!r}; add it to the catalog first")
        return value

    def unit(value):
        if value not in UNITS:
            raise ValidationFailed.of("unit", f"must be one of {', '.join(UNITS)}")
        return value

    def price(value):
        amount = parse_amount(value, places=PRICE_PLACES, field="price")
        if amount <= 0:
            raise ValidationFailed.of("price", "must be greater than 0")
        return amount

    def source(value):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ValidationFailed.of("source", "must be a non-empty string of at most 200 characters")
        return value.strip()

    def cards(value):
        if value is None:
            return DEFAULT_CARDS_PER_MACHINE
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationFailed.of("cards_per_machine", "must be a whole number of at least 1")
        return value

    attempt("gpu_model", model)
    attempt("unit", unit)
    attempt("price", price)
    attempt("currency", lambda value: validate_currency(value))
    attempt("observed_at", lambda value: parse_instant(value, "observed_at"))
    attempt("source", source)
    attempt("cards_per_machine", cards)
    if problems:
        raise ValidationFailed(f"market rent has {len(problems)} invalid field(s)", problems)
    return MarketRent(**values)
