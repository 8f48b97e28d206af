from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.money import line_tax, parse_amount, round_money, to_json, validate_currency
from kashi.errors import ValidationFailed


def test_round_money_rounds_half_up_once():
    assert round_money(Decimal("2.345")) == Decimal("2.35")
    assert round_money(Decimal("2.344999")) == Decimal("2.34")
    assert round_money(Decimal("-2.345")) == Decimal("-2.35")
    assert round_money(5000) == Decimal("5000.00")


def test_round_money_of_an_exact_fraction_rounds_the_true_value():
    assert round_money(Fraction(1600000, 3)) == Decimal("533333.33")
    assert round_money(Fraction(1, 200)) == Decimal("0.01")
    assert round_money(Fraction(-1, 200)) == Decimal("-0.01")
    assert round_money(Fraction(1, 201)) == Decimal("0.00")


def test_line_tax_is_rounded_per_line():
    assert line_tax(Decimal("1440000.00"), Decimal("0.06")) == Decimal("86400.00")
    assert line_tax(Decimal("2.40"), Decimal("0.06")) == Decimal("0.14")
    assert line_tax(Decimal("0.25"), Decimal("0.06")) == Decimal("0.02")


def test_parse_amount_accepts_strings_ints_and_decimals():
    assert parse_amount("5000.00") == Decimal("5000.00")
    assert parse_amount(5000) == Decimal(5000)
    assert parse_amount(Decimal("12.5")) == Decimal("12.5")
    assert parse_amount("0.000125", places=6) == Decimal("0.000125")
    assert parse_amount("12.500000", places=2) == Decimal("12.500000")


@pytest.mark.parametrize("value", [1.5, 5000.0, True, False, None, "abc", "1e3", "NaN", "", [], {}])
def test_parse_amount_rejects_what_is_not_a_decimal_string(value):
    with pytest.raises(ValidationFailed) as caught:
        parse_amount(value, field="items[0].unit_price")
    assert caught.value.details[0]["field"] == "items[0].unit_price"
    assert isinstance(caught.value, ValueError)


def test_parse_amount_names_the_float_and_the_fix():
    with pytest.raises(ValueError, match='send the string "1.5"'):
        parse_amount(1.5, field="amount")


def test_parse_amount_rejects_more_places_than_allowed():
    with pytest.raises(ValidationFailed, match="more than 2 decimal places"):
        parse_amount("1.005")
    with pytest.raises(ValidationFailed, match="more than 6 decimal places"):
        parse_amount("0.0000001", places=6)


@settings(max_examples=50)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_parse_amount_rejects_every_float(value):
    with pytest.raises(ValidationFailed):
        parse_amount(value)


@settings(max_examples=50)
@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_parse_amount_round_trips_its_json_form(amount):
    assert parse_amount(to_json(amount)) == amount


def test_to_json_writes_at_least_two_places_and_never_an_exponent():
    assert to_json(Decimal(5000)) == "5000.00"
    assert to_json(Decimal("5E+3")) == "5000.00"
    assert to_json(Decimal("12.5")) == "12.50"
    assert to_json(Decimal("0.000125")) == "0.000125"
    assert to_json(Decimal("12.500000")) == "12.50"


def test_validate_currency_knows_the_usual_codes():
    for code in ("CNY", "USD", "EUR", "HKD", "JPY", "SGD"):
        assert validate_currency(code) == code


@pytest.mark.parametrize("code", ["cny", "RMB", "US", "USDT", 156, None])
def test_validate_currency_rejects_what_is_not_a_known_iso_code(code):
    with pytest.raises(ValidationFailed):
        validate_currency(code)
