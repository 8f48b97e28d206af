"""Document numbers (SPEC §7): `KS-2026-000123`, one series per currency and year."""

from datetime import UTC, datetime

import pytest

from billing.store.numbering import format_number, number_year, parse_number


def test_cny_invoice_number_has_the_spec_shape():
    assert format_number("KS", "CNY", 2026, 123) == "KS-2026-000123"


def test_other_currencies_carry_their_code_so_series_never_collide():
    assert format_number("KS", "USD", 2026, 7) == "KS-USD-2026-000007"
    assert parse_number("KS-USD-2026-000007") == ("KS", "USD", 2026, 7)
    assert parse_number("KC-2026-000001") == ("KC", "CNY", 2026, 1)


def test_year_is_the_issue_date_in_shanghai():
    assert number_year(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == 2027


def test_garbage_is_not_a_number():
    with pytest.raises(ValueError):
        parse_number("INV-1")
