"""A tenant's statement of account as an A4 PDF (SPEC §8), rendering only: it reads the statement
JSON (`billing.statements.statement_json`) and draws it in the invoices' look (`style`)."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from billing.documents.pdf import STATUS, parties_block
from billing.documents.style import FACTS, LINES, escape, local_date, money, page, styles

KIND = {"invoice": "账单 Invoice", "credit_note": "贷记单 Credit note", "payment": "收款 Payment"}


def render_statement(statement: dict[str, Any]) -> bytes:
    """The PDF bytes of `statement`: both parties, a facts block, then per currency its entries and totals
    and the invoices still open with their due dates."""
    s = styles()
    out = BytesIO()
    issuer = statement.get("issuer")
    author = (issuer or {}).get("legal_name") or ""
    doc = page(out, title=f"Statement {statement['tenant_id']} {statement['period']}", author=author)
    bill_to = statement.get("bill_to") or {"id": statement["tenant_id"], "name": statement["tenant_name"]}
    story: list = [
        Paragraph(f"对账单 Statement {statement['period']}", s["title"]),
        Spacer(1, 3 * mm),
        parties_block(issuer, bill_to, s),
        Spacer(1, 4 * mm),
        _facts(statement, s),
    ]
    for currency_page in statement["currencies"]:
        story += [
            Spacer(1, 6 * mm),
            Paragraph(f"<b>{currency_page['currency']}</b>", s["base"]),
            Spacer(1, 2 * mm),
            _entries(currency_page, s),
            Spacer(1, 3 * mm),
            KeepTogether(_totals(currency_page, s)),
        ]
        invoices = [i for i in currency_page["invoices"] if i.get("due_at")]
        if invoices:
            story += [Spacer(1, 3 * mm), _invoices(invoices, currency_page["currency"], statement["timezone"], s)]
    story += [
        Spacer(1, 8 * mm),
        Paragraph(
            "Balance = invoices − credit notes − payments; positive: owed to the issuer. Invoices are listed on the "
            "statement of the period they bill, credit notes and payments on that of their date; documents are "
            f"dated in {statement['timezone']}. 余额 = 账单 − 贷记单 − 收款；正数为应付金额。"
            "账单按计费账期列示，贷记单与收款按日期列示。",
            s["small"],
        ),
    ]
    doc.build(story)
    return out.getvalue()


def _facts(statement: dict, s: dict) -> Table:
    tz = statement["timezone"]
    first = local_date(statement["period_start"], tz)
    last = date.fromisoformat(local_date(statement["period_end"], tz)) - timedelta(days=1)
    rows = [
        [
            "客户 Tenant",
            f"{escape(statement['tenant_name'])} ({escape(statement['tenant_id'])})",
            "账期 Period",
            statement["period"],
        ],
        ["自 From", first, "至 To", last.isoformat()],
        ["时区 Timezone", tz, "", ""],
    ]
    table = Table(
        [[Paragraph(str(c), s["base"]) for c in row] for row in rows], colWidths=[28 * mm, 67 * mm, 30 * mm, 55 * mm]
    )
    table.setStyle(FACTS)
    return table


def _entries(currency_page: dict, s: dict) -> Table:
    head = ["日期 Date", "类型 Kind", "单号 Number", "摘要 Description", "借方 Debit", "贷方 Credit", "余额 Balance"]
    rows = [[Paragraph(h, s["head"]) for h in head]]
    rows.append(
        [
            "",
            "",
            "",
            Paragraph("<b>期初余额 Opening balance</b>", s["base"]),
            "",
            "",
            Paragraph(f"<b>{money(currency_page['opening_balance'])}</b>", s["right"]),
        ]
    )
    for e in currency_page["entries"]:
        rows.append(
            [
                Paragraph(e["date"], s["base"]),
                Paragraph(KIND.get(e["kind"], e["kind"]), s["base"]),
                Paragraph(escape(e["number"]), s["base"]),
                Paragraph(escape(e["description"]), s["base"]),
                Paragraph(_blank_zero(e["debit"]), s["right"]),
                Paragraph(_blank_zero(e["credit"]), s["right"]),
                Paragraph(money(e["balance"]), s["right"]),
            ]
        )
    rows.append(
        [
            "",
            "",
            "",
            Paragraph("<b>期末余额 Closing balance</b>", s["base"]),
            "",
            "",
            Paragraph(f"<b>{money(currency_page['closing_balance'])}</b>", s["right"]),
        ]
    )
    table = Table(rows, colWidths=[21 * mm, 22 * mm, 33 * mm, 44 * mm, 20 * mm, 20 * mm, 20 * mm], repeatRows=1)
    table.setStyle(LINES)
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    return table


def _totals(currency_page: dict, s: dict) -> Table:
    currency = currency_page["currency"]
    rows = [
        ["期初余额 Opening balance", money(currency_page["opening_balance"])],
        ["+ 账单 Invoiced", money(currency_page["invoiced"])],
        ["− 贷记单 Credited", money(currency_page["credited"])],
        ["− 收款 Paid", money(currency_page["paid"])],
        ["期末余额 Closing balance", f"<b>{money(currency_page['closing_balance'])}</b>"],
    ]
    table = Table(
        [[Paragraph(a, s["right"]), Paragraph(f"{b} {currency}", s["right"])] for a, b in rows],
        colWidths=[140 * mm, 40 * mm],
    )
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    return table


def _invoices(invoices: list[dict], currency: str, tz: str, s: dict) -> Table:
    head = ["账单号 Invoice", "账期 Period", "到期日 Due", "状态 Status", "合计 Total", "应付余额 Due"]
    rows = [[Paragraph(h, s["head"]) for h in head]]
    for i in invoices:
        rows.append(
            [
                Paragraph(escape(i["number"]), s["base"]),
                Paragraph(i["period"], s["base"]),
                Paragraph(local_date(i["due_at"], tz), s["base"]),
                Paragraph(STATUS.get(i["status"], i["status"]), s["base"]),
                Paragraph(f"{money(i['total'])} {currency}", s["right"]),
                Paragraph(f"{money(i['amount_due'])} {currency}", s["right"]),
            ]
        )
    table = Table(rows, colWidths=[36 * mm, 20 * mm, 24 * mm, 34 * mm, 33 * mm, 33 * mm], repeatRows=1)
    table.setStyle(LINES)
    return table


def _blank_zero(amount: str) -> str:
    return "" if amount in ("0.00", "0") else money(amount)
