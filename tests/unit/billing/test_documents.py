"""Invoice and statement documents: the rendered page's text, the embedded CJK font, thousands
separators and Excel number formats (no servers)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
from pypdf import PdfReader

from billing.documents.pdf import render_invoice
from billing.documents.style import money, number, packaged_font
from billing.documents.xlsx import write_invoice_lines
from billing.services.exports import INVOICE_LINE_COLUMNS
from tests.unit.billing.document_samples import INVOICE, PARTIES

FIXTURE = Path(__file__).parents[2] / "fixtures" / "documents" / "invoice_KS-2027-000042_page1.txt"


def _text(pdf: bytes) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_invoice_page_text_equals_the_recorded_page():
    """The fixture is the text of a page rendered, converted with `pdftoppm -png` and looked at."""
    assert _text(render_invoice(INVOICE, parties=PARTIES)) + "\n" == FIXTURE.read_text()


def test_invoice_is_titled_zhangdan_never_fapiao_and_shows_separators_and_due_date():
    text = _text(render_invoice(INVOICE, parties=PARTIES))
    title = text.splitlines()[0]
    assert title == "账单 Invoice KS-2027-000042" and "发票" not in title
    assert "1,440,000.00" in text and "1,844,400.00 CNY" in text and "到期日 Due\n2027-03-03" in text
    assert "24312000000012345678 · 专票 special" in text and "部分付款 Partially paid" in text


def test_missing_issuer_profile_is_said_plainly_and_nothing_is_made_up():
    text = _text(render_invoice(INVOICE, parties={**PARTIES, "issuer": None}))
    assert "Issuer profile missing" in text and "Kashi" not in text and "北京卡时" not in text


def test_cjk_font_comes_from_a_pip_package_and_is_embedded_subset():
    assert packaged_font() is not None and packaged_font().name == "wqy-microhei.ttc"
    pdf = render_invoice(INVOICE, parties=PARTIES)
    assert b"/FontFile2" in pdf and b"+WenQuanYiMicroHei" in pdf
    assert len(pdf) < 200_000  # subset: the collection itself is 5 MB


def test_money_and_numbers_carry_thousands_separators():
    assert money("1440000.00") == "1,440,000.00" and money("-1440.5") == "-1,440.50" and money("0") == "0.00"
    assert number("1000.5") == "1,000.5" and number("12.50") == "12.50" and number("100") == "100"
    assert number("-0.25") == "-0.25"


def test_excel_formats_show_whole_quantities_and_rates_without_a_dangling_point(tmp_path):
    row = {c.name: "" for c in INVOICE_LINE_COLUMNS}
    row.update(
        issued_on=date(2026, 10, 1),
        period_start=None,
        period_end=None,
        quantity=Decimal("100"),
        unit_price=Decimal("12.5"),
        amount=Decimal("1250.00"),
        tax_rate=Decimal("0.06"),
        tax=Decimal("75.00"),
        total=Decimal("1325.00"),
    )
    second = {**row, "quantity": Decimal("1000.5"), "tax_rate": Decimal("0.065")}
    path = tmp_path / "lines.xlsx"
    write_invoice_lines(str(path), [tuple(r[c.name] for c in INVOICE_LINE_COLUMNS) for r in (row, second)])
    sheet = openpyxl.load_workbook(path).active
    at = {c.name: i for i, c in enumerate(INVOICE_LINE_COLUMNS)}
    first, other = list(sheet.iter_rows(min_row=2))
    assert first[at["quantity"]].number_format == "#,##0" and first[at["tax_rate"]].number_format == "0%"
    assert other[at["quantity"]].number_format == "#,##0.######"
    assert other[at["tax_rate"]].number_format == "0.0##%"
    assert first[at["amount"]].number_format == "#,##0.00"
