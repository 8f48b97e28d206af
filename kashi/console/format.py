"""View helpers of the console: numbers as the documents print them, dates in the reader's zone,
and the links of a cursor-paginated table. Pure: no request, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥", "GBP": "£", "SGD": "S$"}
"""Signs some readers expect; the ISO code is always printed too, so ¥ never leaves CNY and JPY ambiguous."""


def grouped(value: object, places: int = 2) -> str:
    """A decimal with thousands separators and exactly ``places`` decimals: ``1440000`` → ``1,440,000.00``.

    Strings are read exactly as Decimals (never through float); a value that is not a number is
    returned as it was, so a page shows what it got rather than failing."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    exponent = Decimal(1).scaleb(-places)
    return f"{number.quantize(exponent, rounding=ROUND_HALF_UP):,.{places}f}"


def money(amount: object, currency: str | None = None) -> str:
    """An amount as on the documents: ``1,440,000.00 CNY`` (code after the number, as the PDFs print it)."""
    text = grouped(amount)
    return f"{text} {currency}" if currency else text


def price(value: object) -> str:
    """A unit price grouped, keeping the places it has (at least 2, at most 6): ``12.345``, ``5,000.00``."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    places = min(6, max(2, -number.normalize().as_tuple().exponent))
    return grouped(number, places)


def hours(value: object) -> str:
    """Card-hours for reading: grouped, one decimal (the API keeps six; the table behind a chart has them)."""
    return grouped(value, 1)


def count(value: object) -> str:
    """An integer count with thousands separators (tokens, card-seconds, events)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def local_time(instant: str | datetime | None, tz: str = "Asia/Shanghai", *, with_time: bool = True) -> str:
    """An RFC 3339 instant in ``tz``: ``2026-10-01 08:00`` (or the date alone); empty for None."""
    if instant is None or instant == "":
        return ""
    at = instant if isinstance(instant, datetime) else datetime.fromisoformat(str(instant).replace("Z", "+00:00"))
    local = at.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


@dataclass(frozen=True)
class Pager:
    """The links under a table read with the API's cursors: first page, previous, next.

    Cursors only go forward, so the way back is carried in the URL: ``trail`` lists the cursors of
    the pages between the first and this one (comma-separated); the previous page's is the last."""

    first_url: str | None
    prev_url: str | None
    next_url: str | None


def pager(
    path: str, params: dict[str, str | None], *, cursor: str | None, next_cursor: str | None, trail: str | None
) -> Pager:
    """Links for a page read at ``cursor`` whose listing answered ``next_cursor``."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and k not in ("cursor", "trail")}
    visited = [c for c in (trail or "").split(",") if c]

    def url(at: str | None, path_cursors: list[str]) -> str:
        query = dict(kept)
        if at:
            query["cursor"] = at
        if path_cursors:
            query["trail"] = ",".join(path_cursors)
        return f"{path}?{urlencode(query)}" if query else path

    if not cursor:
        return Pager(None, None, url(next_cursor, []) if next_cursor else None)
    # From page 2 (empty trail) the way back is the first page; from page n, the cursor of page n-1.
    prev_url = url(visited[-1], visited[:-1]) if visited else url(None, [])
    next_url = url(next_cursor, [*visited, cursor]) if next_cursor else None
    return Pager(url(None, []), prev_url, next_url)


def rate(value: object, places: int = 1) -> str:
    """A rate the API gives as a decimal fraction, as a percentage: ``"0.9879"`` → ``98.8%``; a
    missing rate (its denominator was 0) is a dash."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    return f"{grouped(number * 100, places)}%"


BUCKET_LABELS = {
    "current": "Not yet due",
    "1_30": "1–30 days",
    "31_60": "31–60 days",
    "61_90": "61–90 days",
    "over_90": "Over 90 days",
}


def bucket_label(bucket: str) -> str:
    """The heading of an aging bucket of the receivables report: ``1_30`` → ``1–30 days``."""
    return BUCKET_LABELS.get(bucket, bucket.replace("_", " "))


def overdue_of(row: dict, buckets: list[str] | tuple[str, ...]) -> Decimal:
    """What a receivables row (or total) has past its due date: every bucket but ``current``."""
    return sum((Decimal(str(row[b])) for b in buckets if b != "current"), Decimal("0.00"))
