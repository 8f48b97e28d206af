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
WHOLE = "#,##0"
RATE = "0.0##%"
WHOLE_RATE = "0%"
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


_VARIABLE = {NUMBER: "number", WHOLE: "number", RATE: "rate", WHOLE_RATE: "rate"}
"""Formats chosen per value: Excel has no format that drops a decimal point with nothing after it, so
"#,##0.######" shows 100 as "100." and "0.##%" shows 0.06 as "6.%"; whole values get a whole format."""


def _format_for(current: str, value) -> str:
    if value is None:
        return current
    if _VARIABLE[current] == "number":
        return WHOLE if Decimal(value) == Decimal(value).to_integral_value() else NUMBER
    percent = Decimal(value) * 100
    return WHOLE_RATE if percent == percent.to_integral_value() else RATE


def _variant(sheet, variants: dict, template: WriteOnlyCell, value) -> WriteOnlyCell:
    """The template cell of `template`'s column in the format `value` needs (one cell per format: a
    write-only row keeps its cells' styles until it is written out, so one cell's format cannot change)."""
    wanted = _format_for(template.number_format, value)
    if wanted == template.number_format:
        return template
    key = (id(template), wanted)
    if key not in variants:
        cell = WriteOnlyCell(sheet)
        cell.number_format = wanted
        variants[key] = cell
    return variants[key]


def write_invoice_lines(
    target: str | IO[bytes], rows: Iterable[Row], on_rows: Callable[[int], None] | None = None
) -> int:
    """Write the finance export to `target` (a path or binary file); returns the number of lines.

    on_rows: called with how many rows were written since the last call (a progress bar).
    """
    columns = INVOICE_LINE_COLUMNS
    book = Workbook(write_only=True)
    sheet, sheets, used = _sheet(book, "Lines", columns), 1, 1
    templates = _templates(sheet, columns)
    variants: dict[tuple[int, str], WriteOnlyCell] = {}
    written = pending = 0
    for row in rows:
        if used == MAX_ROWS:
            sheets += 1
            sheet, used = _sheet(book, f"Lines {sheets}", columns), 1
            templates = _templates(sheet, columns)
            variants = {}
        out = []
        for value, template in zip(row, templates, strict=True):
            if template is None:
                out.append(value)
            else:
                if template.number_format in _VARIABLE:
                    template = _variant(sheet, variants, template, value)
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
    Column("refers_to", "关联账单 Refers to"),
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
            [
                (f"对账单 Statement {statement['period']} · {page['currency']}", title),
                None,
                None,
                None,
                _issuer_text(statement.get("issuer")),
            ],
            [_tenant_text(statement), None, None, None, _local_span(statement)],
        )
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
            sheet.append(
                [
                    day,
                    e["kind"],
                    e["number"],
                    e["refers_to"],
                    e["description"],
                    styled(e["debit"]),
                    styled(e["credit"]),
                    styled(e["balance"]),
                ]
            )
        closing = _bold(sheet, "期末余额 Closing balance", bold)
        out = Decimal(page["credited"]) + Decimal(page["paid"])
        sheet.append(
            [
                None,
                "closing_balance",
                None,
                None,
                closing,
                styled(page["invoiced"]),
                styled(str(out)),
                styled(page["closing_balance"]),
            ]
        )
    book.save(target)


def _issuer_text(issuer: dict | None) -> str:
    if not issuer:
        return "出账方 From: issuer profile missing (PUT /v1/issuer)"
    bank = f"{issuer['bank_name']} {issuer['bank_account']}"
    return f"出账方 From: {issuer['legal_name']} · 税号 Tax ID {issuer['tax_id']} · {bank}"


def _tenant_text(statement: dict) -> str:
    bill_to = statement.get("bill_to") or {}
    name = bill_to.get("legal_name") or statement["tenant_name"]
    text = f"客户 Bill to: {name} ({statement['tenant_id']})"
    return text + (f" · 税号 Tax ID {bill_to['tax_id']}" if bill_to.get("tax_id") else "")


def _local_span(statement: dict) -> str:
    """The statement's month as local dates in the tenant's zone: "2026-10-01 – 2026-10-31 · Asia/Shanghai"."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(statement["timezone"])

    def local(instant: str):
        return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(zone)

    first, after = local(statement["period_start"]), local(statement["period_end"])
    last = (after - timedelta(days=1)).date()
    return f"{first.date().isoformat()} – {last.isoformat()} · {statement['timezone']}"


def _bold(sheet, value: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value)
    cell.font = font
    return cell


def receivables_workbook(report: dict, columns: tuple[str, ...], rows: list[list]) -> bytes:
    """The aged receivables report as a workbook: amounts as numeric `#,##0.00` cells, header frozen."""
    from io import BytesIO

    titles = {
        "tenant_id": "客户编号 Tenant id",
        "tenant_name": "客户名称 Tenant name",
        "currency": "币种 Currency",
        "current": "未到期 Current",
        "1_30": "逾期 1–30 天",
        "31_60": "逾期 31–60 天",
        "61_90": "逾期 61–90 天",
        "over_90": "逾期 90 天以上 Over 90",
        "total_due": "应收合计 Total due",
        "credit_balance": "预收余额 Credit balance",
    }
    book = Workbook(write_only=True)
    table = tuple(
        Column(c, titles.get(c, c), "text" if c in ("tenant_id", "tenant_name", "currency") else "money")
        for c in columns
    )
    preamble = ([(f"应收账款账龄 Aged receivables as of {report['as_of']}", Font(bold=True, size=13))],)
    sheet = _sheet(book, "Receivables", table, preamble)
    for row in rows:
        out = []
        for value, column in zip(row, table, strict=True):
            if column.kind == "money":
                cell = WriteOnlyCell(sheet, Decimal(value))
                cell.number_format = MONEY
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    target = BytesIO()
    book.save(target)
    return target.getvalue()
