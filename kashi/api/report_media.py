"""Rendering a report table in the format asked for: csv or xlsx (json is answered by the route)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kashi.errors import ValidationFailed

MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def render_report(
    format: str,
    title: str,
    columns: Sequence[str],
    rows: list[list[Any]],
    *,
    money=(),
    rates=(),
    preamble: Sequence[str] = (),
) -> tuple[bytes, str]:
    """`(body, media type)`; ValidationFailed naming `format` unless it is json, csv or xlsx."""
    from billing.documents.report import csv_bytes, xlsx_bytes

    if format == "csv":
        return csv_bytes(columns, rows), MEDIA["csv"]
    if format == "xlsx":
        return xlsx_bytes(title, columns, rows, money=money, rates=rates, preamble=preamble), MEDIA["xlsx"]
    raise ValidationFailed.of("format", "must be json, csv or xlsx")
