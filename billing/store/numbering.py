"""Gapless document numbers per series, currency and year (SPEC §7): `KS-2026-000123`.

Series "KS" numbers invoices, "KC" credit notes, "KP" supplier bills (payable). CNY, the market's
currency, has the plain form of the SPEC; any other currency carries its code so that two series never share a number:
`KS-USD-2026-000007`. The year is the issue date's year in Asia/Shanghai, one calendar for the
whole series whatever the tenant's timezone.

`allocate` takes the next number inside the caller's transaction: the counter row is upserted
(row-locked until commit), so concurrent issuers queue on it and a rolled-back issue gives its
number back — no gap, no duplicate.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

INVOICE_SERIES = "KS"
CREDIT_NOTE_SERIES = "KC"
SUPPLIER_BILL_SERIES = "KP"
"""Bills our suppliers send us for capacity bought (SPEC §17): payable, apart from the KS- invoices."""
PLAIN_CURRENCY = "CNY"
NUMBERING_ZONE = ZoneInfo("Asia/Shanghai")
"""The calendar whose year a number carries."""
_SHAPE = re.compile(r"(?P<series>[A-Z]{2})-(?:(?P<currency>[A-Z]{3})-)?(?P<year>\d{4})-(?P<n>\d{6,})")


def number_year(issued_at: datetime) -> int:
    """The year a document issued at `issued_at` (aware) is numbered in."""
    return issued_at.astimezone(NUMBERING_ZONE).year


def format_number(series: str, currency: str, year: int, n: int) -> str:
    """`format_number("KS", "CNY", 2026, 123)` → "KS-2026-000123"; other currencies add their code."""
    infix = "" if currency == PLAIN_CURRENCY else f"{currency}-"
    return f"{series}-{infix}{year:04d}-{n:06d}"


def parse_number(number: str) -> tuple[str, str, int, int]:
    """The inverse of `format_number`: (series, currency, year, n)."""
    match = _SHAPE.fullmatch(number)
    if match is None:
        raise ValueError(f"{number!r} is not a Kashi document number")
    return match["series"], match["currency"] or PLAIN_CURRENCY, int(match["year"]), int(match["n"])


def allocate(conn: Connection, series: str, currency: str, issued_at: datetime) -> str:
    """The next number of `series` for `currency` in the year of `issued_at`, in `conn`'s transaction."""
    year = number_year(issued_at)
    n = conn.execute(
        text(
            """INSERT INTO document_counters (series, currency, year, last) VALUES (:series, :currency, :year, 1)
               ON CONFLICT (series, currency, year) DO UPDATE SET last = document_counters.last + 1
               RETURNING last"""
        ),
        {"series": series, "currency": currency, "year": year},
    ).scalar_one()
    return format_number(series, currency, year, n)


def allocate_block(conn: Connection, series: str, currency: str, issued_at: datetime, count: int) -> list[str]:
    """The next `count` numbers of `series` for `currency` in the year of `issued_at`, in order, in
    one round trip (the counter row is locked until commit, as for :func:`allocate`)."""
    if count <= 0:
        return []
    year = number_year(issued_at)
    last = conn.execute(
        text(
            """INSERT INTO document_counters (series, currency, year, last) VALUES (:series, :currency, :year, :n)
               ON CONFLICT (series, currency, year) DO UPDATE SET last = document_counters.last + :n
               RETURNING last"""
        ),
        {"series": series, "currency": currency, "year": year, "n": count},
    ).scalar_one()
    return [format_number(series, currency, year, n) for n in range(last - count + 1, last + 1)]
