"""A tenant's statement of account as an A4 PDF (SPEC §8), rendering only: it reads the statement
JSON (`billing.statements.statement_json`) and draws it in the invoices' look (`style`)."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from billing.documents.style import FACTS, LINES, escape, local_date, page, styles

KIND = {"invoice": "发票 Invoice", "credit_note": "红字 Credit note", "payment": "收款 Payment"}


def render_statement(statement: dict[str, Any], *, issuer: str = "Kashi 卡时") -> bytes:
    """The PDF bytes of `statement`: a facts block, then per currency its entries and totals."""
    s = styles()
    out = BytesIO()
    doc = page(out, title=f"Statement {statement['tenant_id']} {statement['period']}", author=issuer)
    story: list = [
        Paragraph(f"对账单 Statement {statement['period']}", s["title"]),
        Spacer(1, 4 * mm),
        _facts(statement, issuer, s),
    ]
    for currency_page in statement["currencies"]:
        story += [Spacer(1, 6 * mm), Paragraph(f"<b>{currency_page['currency']}</b>", s["base"]), Spacer(1, 2 * mm),
                  _entries(currency_page, s), Spacer(1, 3 * mm), KeepTogether(_totals(currency_page, s))]  # fmt: skip
    story += [
        Spacer(1, 8 * mm),
        Paragraph(
            "Balance = invoices − credit notes − payments; positive: owed to the issuer. Invoices are listed on the "
            "statement of the period they bill, credit notes and payments on that of their date; documents are "
            f"dated in {statement['timezone']}. 余额 = 发票 − 红字发票 − 收款；正数为应付金额。"
            "发票按计费账期列示，红字发票与收款按日期列示。",
            s["small"],
        ),
    ]
    doc.build(story)
    return out.getvalue()


def _facts(statement: dict, issuer: str, s: dict) -> Table:
    tz = statement["timezone"]
    first = local_date(statement["period_start"], tz)
    last = date.fromisoformat(local_date(statement["period_end"], tz)) - timedelta(days=1)
    rows = [
        ["开票方 Issuer", issuer, "账期 Period", statement["period"]],
        ["客户 Tenant", f"{escape(statement['tenant_name'])} ({escape(statement['tenant_id'])})", "时区 Timezone", tz],
        ["自 From", first, "至 To", last.isoformat()],
    ]  # fmt: skip
    table = Table([[Paragraph(str(c), s["base"]) for c in row] for row in rows],
                  colWidths=[28 * mm, 67 * mm, 30 * mm, 55 * mm])  # fmt: skip
    table.setStyle(FACTS)
    return table


def _entries(currency_page: dict, s: dict) -> Table:
    head = ["日期 Date", "类型 Kind", "单号 Number", "摘要 Description", "借方 Debit", "贷方 Credit", "余额 Balance"]
    rows = [[Paragraph(h, s["head"]) for h in head]]
    rows.append(["", "", "", Paragraph("<b>期初余额 Opening balance</b>", s["base"]), "", "",
                 Paragraph(f"<b>{currency_page['opening_balance']}</b>", s["right"])])  # fmt: skip
    for e in currency_page["entries"]:
        rows.append([
            Paragraph(e["date"], s["base"]),
            Paragraph(KIND.get(e["kind"], e["kind"]), s["base"]),
            Paragraph(escape(e["number"]), s["base"]),
            Paragraph(escape(e["description"]), s["base"]),
            Paragraph(_blank_zero(e["debit"]), s["right"]),
            Paragraph(_blank_zero(e["credit"]), s["right"]),
            Paragraph(e["balance"], s["right"]),
        ])  # fmt: skip
    rows.append(["", "", "", Paragraph("<b>期末余额 Closing balance</b>", s["base"]), "", "",
                 Paragraph(f"<b>{currency_page['closing_balance']}</b>", s["right"])])  # fmt: skip
    table = Table(rows, colWidths=[21 * mm, 22 * mm, 33 * mm, 44 * mm, 20 * mm, 20 * mm, 20 * mm], repeatRows=1)
    table.setStyle(LINES)
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    return table


def _totals(currency_page: dict, s: dict) -> Table:
    currency = currency_page["currency"]
    rows = [
        ["期初余额 Opening balance", currency_page["opening_balance"]],
        ["+ 发票 Invoiced", currency_page["invoiced"]],
        ["− 红字发票 Credited", currency_page["credited"]],
        ["− 收款 Paid", currency_page["paid"]],
        ["期末余额 Closing balance", f"<b>{currency_page['closing_balance']}</b>"],
    ]
    table = Table([[Paragraph(a, s["right"]), Paragraph(f"{b} {currency}", s["right"])] for a, b in rows],
                  colWidths=[140 * mm, 40 * mm])  # fmt: skip
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    return table


def _blank_zero(amount: str) -> str:
    return "" if amount in ("0.00", "0") else amount
