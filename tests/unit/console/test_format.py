"""The console's view helpers: numbers as the documents print them, cursor pagination links."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from kashi.console.format import count, grouped, hours, local_time, money, pager, price


def test_amounts_have_thousands_separators_and_the_currency_after():
    assert money("1440000.00", "CNY") == "1,440,000.00 CNY"
    assert money(Decimal("7200000"), "CNY") == "7,200,000.00 CNY"
    assert money("-100.5", "CNY") == "-100.50 CNY"
    assert money("0", None) == "0.00"


def test_grouping_rounds_half_up_and_never_goes_through_float():
    assert grouped("2.675") == "2.68"  # float(2.675) is 2.67499…
    assert grouped("0.005") == "0.01"
    assert grouped("12345678901234567.895") == "12,345,678,901,234,567.90"


def test_what_is_not_a_number_is_shown_as_it_came():
    assert grouped("n/a") == "n/a" and grouped(None) == "None" and count("x") == "x"


def test_prices_keep_their_places_between_two_and_six():
    assert price("5000.00") == "5,000.00"
    assert price("12.345") == "12.345"
    assert price("0.1234567") == "0.123457"
    assert price("3") == "3.00"


def test_card_hours_and_counts():
    assert hours("1234.500000") == "1,234.5"
    assert count(1_200_000) == "1,200,000"


def test_local_time_is_in_the_tenant_zone():
    assert local_time("2026-09-30T16:00:00Z", "Asia/Shanghai") == "2026-10-01 00:00"
    assert local_time("2026-09-30T16:00:00Z", "Asia/Shanghai", with_time=False) == "2026-10-01"
    assert local_time(None) == ""


@given(st.decimals(min_value=-(10**15), max_value=10**15, places=2, allow_nan=False))
def test_grouped_reads_back_as_the_same_amount(amount):
    assert Decimal(grouped(amount).replace(",", "")) == amount


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_first_page_links_only_forward_and_keeps_the_filters():
    links = pager(
        "/console/invoices",
        {"tenant_id": "t-1", "period": "", "cursor": "x"},
        cursor=None,
        next_cursor="KS-2026-000025",
        trail=None,
    )
    assert links.first_url is None and links.prev_url is None
    assert _query(links.next_url) == {"tenant_id": "t-1", "cursor": "KS-2026-000025"}


def test_second_page_goes_back_to_the_first_and_on_to_the_third_carrying_its_trail():
    links = pager("/console/invoices", {}, cursor="KS-2026-000025", next_cursor="KS-2026-000050", trail="")
    assert links.prev_url == "/console/invoices" and links.first_url == "/console/invoices"
    assert _query(links.next_url) == {"cursor": "KS-2026-000050", "trail": "KS-2026-000025"}


def test_third_page_goes_back_to_the_second():
    links = pager(
        "/console/invoices", {"period": "2026-11"}, cursor="KS-2026-000050", next_cursor=None, trail="KS-2026-000025"
    )
    assert _query(links.prev_url) == {"period": "2026-11", "cursor": "KS-2026-000025"}
    assert links.next_url is None


def test_a_single_page_has_no_links():
    links = pager("/console/keys", {}, cursor=None, next_cursor=None, trail=None)
    assert (links.first_url, links.prev_url, links.next_url) == (None, None, None)
