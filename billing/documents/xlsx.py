"""Excel workbooks (SPEC §8), rendering only: the invoice-line export and the statement.

openpyxl's write-only mode streams each row to a temporary XML file as it is appended and writes
strings inline, so a month of a million lines takes flat memory. Amounts are numeric cells (never
text) formatted `#,##0.00`, so finance can sum and pivot them; the header row is frozen. A sheet
holds at most 1,048,576 rows, so a larger export continues on "Lines 2", "Lines 3", … each with
its header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from billing.core.export_columns import INVOICE_LINE_COLUMNS, Column, Row

MONEY = "#,##0.00"
NUMBER = "#,##0.######"
RATE = "0.##%"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"
FORMATS = {"money": MONEY, "number": NUMBER, "rate": RATE, "date": DATE, "datetime": DATETIME}
WIDTHS = {"text": 16, "money": 14, "number": 14, "rate": 8, "date": 11, "datetime": 19}
MAX_ROWS = 1_048_576
"""Excel's limit of rows per sheet, header included."""
HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
"""The dark blue of the PDF documents' table heads (billing.documents.pdf)."""
HEADER_FONT = Font(bold=True, color="FFFFFF")


def _header(sheet, titles: Iterable[str]) -> list[WriteOnlyCell]:
    cells = []
    for title in titles:
        cell = WriteOnlyCell(sheet, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        cells.append(cell)
    return cells


def _sheet(book: Workbook, title: str, columns: tuple[Column, ...], preamble: tuple[list, ...] = ()):
    """A sheet with `preamble` rows (a `(text, Font)` pair is a styled cell), then the bilingual header,
    frozen below it."""
    sheet = book.create_sheet(title)
    sheet.freeze_panes = f"A{len(preamble) + 2}"
    for index, column in enumerate(columns, 1):
        width = 34 if column.name == "description" else WIDTHS[column.kind]
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row in preamble:
        sheet.append([_bold(sheet, v[0], v[1]) if isinstance(v, tuple) else v for v in row])
    sheet.append(_header(sheet, [c.title for c in columns]))
    return sheet


def _templates(sheet, columns: tuple[Column, ...]) -> list[WriteOnlyCell | None]:
    """One styled cell per formatted column, reused row after row: write-only mode serialises a row
    as soon as it is appended, so re-filling the same cells costs no memory and no style lookups."""
    templates: list[WriteOnlyCell | None] = []
    for column in columns:
        if column.kind == "text":
            templates.append(None)
            continue
        cell = WriteOnlyCell(sheet)
        cell.number_format = FORMATS[column.kind]
        templates.append(cell)
    return templates


def write_invoice_lines(target: str | IO[bytes], rows: Iterable[Row],
                        on_rows: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Write the finance export to `target` (a path or binary file); returns the number of lines.

    on_rows: called with how many rows were written since the last call (a progress bar).
    """
    columns = INVOICE_LINE_COLUMNS
    book = Workbook(write_only=True)
    sheet, sheets, used = _sheet(book, "Lines", columns), 1, 1
    templates = _templates(sheet, columns)
    written = pending = 0
    for row in rows:
        if used == MAX_ROWS:
            sheets += 1
            sheet, used = _sheet(book, f"Lines {sheets}", columns), 1
            templates = _templates(sheet, columns)
        out = []
        for value, template in zip(row, templates, strict=True):
            if template is None:
                out.append(value)
            else:
                template.value = value
                out.append(template)
        sheet.append(out)
        used += 1
        written += 1
        pending += 1
        if on_rows and pending == 10_000:
            on_rows(pending)
            pending = 0
    if on_rows and pending:
        on_rows(pending)
    book.save(target)
    return written


STATEMENT_COLUMNS = (
    Column("date", "日期 Date", "date"),
    Column("kind", "类型 Kind"),
    Column("number", "单号 Number"),
    Column("refers_to", "关联发票 Refers to"),
    Column("description", "摘要 Description"),
    Column("debit", "借方 Debit", "money"),
    Column("credit", "贷方 Credit", "money"),
    Column("balance", "余额 Balance", "money"),
)


def write_statement(target: str | IO[bytes], statement: dict) -> None:
    """The statement JSON (`billing.statements.statement_json`) as a workbook, one sheet per currency.

    Each sheet: the tenant and period, a frozen header, the opening balance row, one row per
    document (the invoices billing the month, the credit notes and payments dated in it, in date
    order), and the closing row (debit = invoiced, credit = credited + paid, balance = closing).
    """
    book = Workbook(write_only=True)
    for page in statement["currencies"]:
        title = Font(bold=True, size=13)
        preamble = (
            [(f"对账单 Statement {statement['period']} · {page['currency']}", title)],
            [f"{statement['tenant_name']} ({statement['tenant_id']})", None, None, None,
             f"{statement['period_start']} – {statement['period_end']} · {statement['timezone']}"],
        )  # fmt: skip
        sheet = _sheet(book, page["currency"], STATEMENT_COLUMNS, preamble)

        def styled(value: str, sheet=sheet) -> WriteOnlyCell:
            cell = WriteOnlyCell(sheet, Decimal(value))
            cell.number_format = MONEY
            return cell

        bold = Font(bold=True)
        opening = _bold(sheet, "期初余额 Opening balance", bold)
        sheet.append([None, "opening_balance", None, None, opening, None, None, styled(page["opening_balance"])])
        for e in page["entries"]:
            day = WriteOnlyCell(sheet, date.fromisoformat(e["date"]))
            day.number_format = DATE
            sheet.append([day, e["kind"], e["number"], e["refers_to"], e["description"], styled(e["debit"]),
                          styled(e["credit"]), styled(e["balance"])])  # fmt: skip
        closing = _bold(sheet, "期末余额 Closing balance", bold)
        out = Decimal(page["credited"]) + Decimal(page["paid"])
        sheet.append([None, "closing_balance", None, None, closing, styled(page["invoiced"]), styled(str(out)),
                      styled(page["closing_balance"])])  # fmt: skip
    book.save(target)


def _bold(sheet, value: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value)
    cell.font = font
    return cell
