"""Money: parsing, rounding, tax and JSON form (SPEC §2).

Money is `decimal.Decimal`, never float. An invoice line's amount is computed exactly (as a
`Decimal` or a `fractions.Fraction`) and rounded once, to 0.01, ROUND_HALF_UP; tax is per line,
`round_money(amount × tax_rate)`. Unit prices keep up to 6 decimal places.

In JSON, amounts are strings ("5000.00"); integers are accepted on input; floats and booleans
are rejected, because a float has already lost the cents before we see it.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from kashi.errors import ValidationFailed

CENT = Decimal("0.01")
PRICE_PLACES = 6
"""Unit prices keep up to 6 decimal places (SPEC §2)."""
AMOUNT_PLACES = 2
"""Amounts are in cents."""
DEFAULT_CURRENCY = "CNY"

_KNOWN_CURRENCY_CODES = """
    AED ARS AUD BDT BGN BHD BRL CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR ISK JOD
    JPY KES KRW KWD KZT LKR MAD MOP MXN MYR NGN NOK NZD OMR PEN PHP PKR PLN QAR RON RSD RUB SAR SEK
    SGD THB TRY TWD UAH USD UZS VND ZAR
"""
KNOWN_CURRENCIES = frozenset(_KNOWN_CURRENCY_CODES.split())
"""ISO 4217 codes Kashi invoices in. All amounts round to 0.01 whatever the currency's minor unit."""

_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")

Exact = Decimal | Fraction | int


def round_money(x: Exact) -> Decimal:
    """`x` rounded to 0.01, halves away from zero (ROUND_HALF_UP), as a Decimal with 2 places.

    Accepts an exact Fraction too, so proration can stay exact until this single rounding.
    """
    if isinstance(x, Fraction):
        cents = abs(x) * 100
        whole = (cents.numerator * 2 + cents.denominator) // (cents.denominator * 2)
        rounded = Decimal(whole if x >= 0 else -whole).scaleb(-2)
        return rounded.quantize(CENT)
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_UP)


def round_places(x: Exact, places: int) -> Decimal:
    """`x` rounded ROUND_HALF_UP to `places` decimals: display quantities and derived unit prices."""
    exponent = Decimal(1).scaleb(-places)
    if isinstance(x, Fraction):
        scaled = abs(x) * 10**places
        whole = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
        return Decimal(whole if x >= 0 else -whole).scaleb(-places).quantize(exponent)
    return Decimal(x).quantize(exponent, rounding=ROUND_HALF_UP)


def line_tax(amount: Decimal, tax_rate: Decimal) -> Decimal:
    """Tax of one invoice line: `round_money(amount × tax_rate)` (SPEC §2)."""
    return round_money(amount * tax_rate)


def parse_amount(value: object, *, places: int = AMOUNT_PLACES, field: str = "amount") -> Decimal:
    """A money value or decimal quantity from JSON: a string, an int or a Decimal.

    places: the most decimal places accepted (2 for amounts, 6 for unit prices); more is rejected
        rather than silently rounded.
    field: the name reported in the error's details ("items[2].unit_price").
    Raises `ValidationFailed` (a ValueError) for floats, booleans, non-numbers, NaN, infinities
    and excess places. The sign is not checked here; callers say what range they accept.
    """
    if isinstance(value, bool):
        raise ValidationFailed.of(field, 'must be a decimal string such as "5000.00", not a boolean')
    if isinstance(value, float):
        raise ValidationFailed.of(
            field, f'JSON numbers with a fraction are not accepted for money; send the string "{value}"'
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValidationFailed.of(field, f'{value!r} is not a decimal number such as "5000.00"')
        try:
            number = Decimal(text)
        except InvalidOperation as error:  # pragma: no cover - the pattern already excludes it
            raise ValidationFailed.of(field, f"{value!r} is not a decimal number") from error
    else:
        raise ValidationFailed.of(field, f'must be a decimal string such as "5000.00", not {type(value).__name__}')
    if not number.is_finite():
        raise ValidationFailed.of(field, "must be a finite number")
    if decimal_places(number) > places:
        raise ValidationFailed.of(field, f"has more than {places} decimal places")
    return number


def decimal_places(number: Decimal) -> int:
    """How many digits `number` has after the decimal point, ignoring trailing zeros."""
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def to_json(amount: Decimal) -> str:
    """A money or price value as a JSON string: at least 2 places, never an exponent.

    5000 → "5000.00"; Decimal("12.5") → "12.50"; Decimal("0.000125") → "0.000125".
    """
    number = Decimal(amount)
    number = number.quantize(CENT) if decimal_places(number) <= 2 else number.normalize()
    return format(number, "f")


def validate_currency(code: object, *, field: str = "currency") -> str:
    """An ISO 4217 code: three uppercase letters, one Kashi knows (see KNOWN_CURRENCIES)."""
    if not isinstance(code, str) or not _CURRENCY_SHAPE.fullmatch(code):
        raise ValidationFailed.of(field, f"{code!r} is not an ISO 4217 code of three uppercase letters")
    if code not in KNOWN_CURRENCIES:
        raise ValidationFailed.of(field, f"unknown currency {code!r}")
    return code
