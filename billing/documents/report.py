"""Report tables as CSV and xlsx (breach risk, margin, supplier-bill lines): rendering only.

A report is a header of column names and rows of cells. CSV is UTF-8 with a BOM (Excel in a Chinese
locale reads it right), money and rates as plain decimals. In xlsx, cells whose column is named in
`money` are numeric with `#,##0.00`, `rates` with `0.00%`, so finance can sum and sort them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from billing.documents.csv import chunks

HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
HEADER_FONT = Font(bold=True, color="FFFFFF")


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    return b"".join(chunks(columns, rows))


def xlsx_bytes(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    money: Iterable[str] = (),
    rates: Iterable[str] = (),
    preamble: Sequence[str] = (),
) -> bytes:
    """One sheet called `title`: `preamble` lines, the header (bold, frozen), then the rows."""
    money, rates = set(money), set(rates)
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    for line in preamble:
        sheet.append([line])
    sheet.append(list(columns))
    header_row = len(preamble) + 1
    for cell in sheet[header_row]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    for values in rows:
        cells = []
        for name, value in zip(columns, values, strict=True):
            if value is not None and (name in money or name in rates) and isinstance(value, str | Decimal):
                try:
                    value = Decimal(value)
                except ArithmeticError:
                    pass
            cells.append(value)
        sheet.append(cells)
        row = sheet.max_row
        for index, name in enumerate(columns, 1):
            if name in money:
                sheet.cell(row=row, column=index).number_format = "#,##0.00"
            elif name in rates:
                sheet.cell(row=row, column=index).number_format = "0.00%"
    for index, name in enumerate(columns, 1):
        sheet.column_dimensions[sheet.cell(row=header_row, column=index).column_letter].width = (
            40 if name in ("note", "description", "missing_market") else 16
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
