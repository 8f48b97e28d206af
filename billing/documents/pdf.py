"""An invoice as an A4 PDF, rendering only: it reads the invoice JSON and its parties and draws them.

The document is a bill of charges, titled 账单 Invoice: a 发票 (fapiao) is issued by the tax system,
and the fapiao finance recorded for the invoice are listed on it by number. It names both parties
as the invoice was issued (the issuer profile, or a plain notice that it is missing; the tenant's
billing profile), its due date and status, and amounts with thousands separators.

Font (an embedded CJK font for Chinese names), styles and colours are shared with the statement
PDF in `billing.documents.style`.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from billing.documents.style import CID_FONT, CJK_FONTS, EMBEDDED_FONT, FACTS, LINES, MUTED, money, number, page  # noqa: F401
from billing.documents.style import escape as _escape
from billing.documents.style import font as _font  # noqa: F401
from billing.documents.style import local_date as _local
from billing.documents.style import styles as _styles

_KIND = {
    "machine_month": "整机月租 Machine-month",
    "p_year": "算力 P-year",
    "gpu_hour": "卡时 Card-hours",
    "gpu_hour_shortfall": "承诺差额 Shortfall",
    "token": "Token",
    "penalty": "违约金 Penalty",
    "notice_in_lieu": "通知期费用 Notice in lieu",
    "adjustment": "调整 Adjustment",
    "sla_credit": "SLA 抵扣 SLA credit",
}
STATUS = {
    "draft": "草稿 Draft",
    "open": "待付款 Open",
    "partially_paid": "部分付款 Partially paid",
    "paid": "已付清 Paid",
    "credited": "已冲销 Credited",
    "overdue": "已逾期 Overdue",
}
FAPIAO_KIND = {"general": "普票 general", "special": "专票 special"}
MISSING_ISSUER = (
    "出账方信息未设置 Issuer profile missing: the operator has not set its legal name, tax id and "
    "bank account (PUT /v1/issuer)."
)


def render_invoice(invoice: dict[str, Any], *, parties: dict[str, Any], timezone: str = "Asia/Shanghai") -> bytes:
    """The PDF bytes of `invoice` (the invoice JSON) with `parties` (`billing.services.parties`:
    {"issuer": profile or None, "tenant": bill-to party, "payment_terms_days"})."""
    s = _styles()
    out = BytesIO()
    number_text = invoice["number"] or "draft"
    issuer = parties.get("issuer")
    doc = page(out, title=f"Invoice {number_text}", author=(issuer or {}).get("legal_name") or "")
    story: list = [
        Paragraph(f"账单 Invoice {_escape(number_text)}", s["title"]),
        Spacer(1, 3 * mm),
        parties_block(issuer, parties["tenant"], s),
        Spacer(1, 4 * mm),
        _facts(invoice, parties, timezone, s),
        Spacer(1, 5 * mm),
        _lines(invoice, s),
        Spacer(1, 4 * mm),
        _totals(invoice, s),
    ]
    if invoice.get("fapiao"):
        story += [Spacer(1, 4 * mm), Paragraph("<b>发票 Fapiao issued for this invoice</b>", s["base"])]
        for f in invoice["fapiao"]:
            kind = FAPIAO_KIND.get(f["kind"], f["kind"])
            story.append(Paragraph(f"{_escape(f['number'])} · {kind} · {f['issued_on']}", s["small"]))
    if invoice.get("credit_notes"):
        story += [Spacer(1, 4 * mm), Paragraph("贷记单 Credit notes", s["base"])]
        for note in invoice["credit_notes"]:
            story.append(
                Paragraph(
                    f"{note['number']}: −{money(note['amount'])} {invoice['currency']} — {_escape(note['reason'])}",
                    s["small"],
                )
            )
    story += [Spacer(1, 6 * mm), *_payment_notes(invoice, issuer, s)]
    doc.build(story)
    return out.getvalue()


def _party_lines(title: str, rows: list[tuple[str, str | None]], s: dict) -> list:
    cells = [Paragraph(f"<b>{title}</b>", s["base"])]
    for label, value in rows:
        if value:
            cells.append(Paragraph(f"<font color='#555555'>{label}</font> {_escape(str(value))}", s["small"]))
    return cells


def parties_block(issuer: dict | None, tenant: dict, s: dict) -> Table:
    if issuer:
        left = _party_lines(
            "出账方 From",
            [
                ("", issuer.get("legal_name")),
                ("税号 Tax ID", issuer.get("tax_id")),
                ("地址 Address", issuer.get("address")),
                ("电话 Phone", issuer.get("phone")),
                ("邮箱 Email", issuer.get("email")),
            ],
            s,
        )
    else:
        left = [Paragraph("<b>出账方 From</b>", s["base"]), Paragraph(MISSING_ISSUER, s["warn"])]
    name = tenant.get("legal_name") or tenant.get("name")
    right = _party_lines(
        "客户 Bill to",
        [
            ("", name),
            ("客户编号 Tenant", tenant.get("id")),
            ("税号 Tax ID", tenant.get("tax_id")),
            ("地址 Address", tenant.get("address")),
            ("邮箱 Email", tenant.get("billing_email")),
        ],
        s,
    )
    if not tenant.get("legal_name") or not tenant.get("tax_id"):
        right.append(Paragraph("客户开票信息不完整 Tenant billing profile incomplete (legal name, tax id).", s["warn"]))
    table = Table([[left, right]], colWidths=[90 * mm, 90 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (0, 0), 0.25, colors.HexColor("#cccccc")),
                ("BOX", (1, 0), (1, 0), 0.25, colors.HexColor("#cccccc")),
            ]
        )
    )
    return table


def _facts(invoice: dict, parties: dict, tz: str, s: dict) -> Table:
    due = _local(invoice["due_at"], tz) if invoice.get("due_at") else "—"
    issued = _local(invoice["issued_at"], tz) if invoice.get("issued_at") else "—"
    rows = [
        ["账单号 Number", invoice["number"] or "—", "账期 Period", invoice["period"]],
        ["出账日期 Issued", issued, "到期日 Due", f"<b>{due}</b>"],
        [
            "付款期限 Terms",
            f"{parties.get('payment_terms_days', 30)} 天 days",
            "状态 Status",
            STATUS.get(invoice.get("status", ""), invoice.get("status", "")),
        ],
        ["币种 Currency", invoice["currency"], "时区 Timezone", tz],
    ]
    table = Table(
        [[Paragraph(str(c), s["base"]) for c in row] for row in rows], colWidths=[28 * mm, 62 * mm, 28 * mm, 62 * mm]
    )
    table.setStyle(FACTS)
    return table


def _lines(invoice: dict, s: dict) -> Table:
    head = ["项目 Item", "数量 Qty", "单位 Unit", "单价 Unit price", "金额 Amount", "税率 Tax", "税额 Tax amt"]
    rows = [[Paragraph(h, s["head"]) for h in head]]
    for line in invoice["lines"]:
        what = f"<b>{_KIND.get(line['kind'], line['kind'])}</b><br/>{_escape(line['description'])}"
        ids = f"{line['contract_id']}" + (f" / {line['item_id']}" if line["item_id"] else "")
        rows.append(
            [
                Paragraph(f"{what}<br/><font size=6.5 color='#666666'>{_escape(ids)}</font>", s["base"]),
                Paragraph(number(_short(line["quantity"])), s["right"]),
                Paragraph(line["unit"], s["base"]),
                Paragraph(number(line["unit_price"]), s["right"]),
                Paragraph(money(line["amount"]), s["right"]),
                Paragraph(percent(line["tax_rate"]), s["right"]),
                Paragraph(money(line["tax"]), s["right"]),
            ]
        )
    table = Table(rows, colWidths=[50 * mm, 17 * mm, 29 * mm, 24 * mm, 26 * mm, 12 * mm, 22 * mm], repeatRows=1)
    table.setStyle(LINES)
    return table


def _totals(invoice: dict, s: dict) -> Table:
    currency = invoice["currency"]
    rows = [
        ["小计 Subtotal", f"{money(invoice['subtotal'])} {currency}"],
        ["税额 Tax", f"{money(invoice['tax'])} {currency}"],
        ["合计 Total", f"<b>{money(invoice['total'])} {currency}</b>"],
    ]
    if invoice.get("amount_due") is not None:
        rows += [
            ["已冲销 Credited", f"{money(invoice['amount_credited'])} {currency}"],
            ["已付款 Paid", f"{money(invoice['amount_paid'])} {currency}"],
            ["应付余额 Amount due", f"<b>{money(invoice['amount_due'])} {currency}</b>"],
        ]
    table = Table(
        [[Paragraph(a, s["right"]), Paragraph(b, s["right"])] for a, b in rows], colWidths=[135 * mm, 45 * mm]
    )
    style = [("LINEABOVE", (0, 2), (-1, 2), 0.8, colors.black)]
    if len(rows) > 3:
        style.append(("LINEABOVE", (0, 5), (-1, 5), 0.8, colors.black))
    table.setStyle(TableStyle(style))
    return table


def _payment_notes(invoice: dict, issuer: dict | None, s: dict) -> list:
    notes = []
    if issuer and (issuer.get("bank_name") or issuer.get("bank_account")):
        bank = " · ".join(_escape(issuer.get(k) or "") for k in ("legal_name", "bank_name", "bank_account"))
        quote = _escape(invoice["number"] or "")
        notes.append(Paragraph(f"<b>付款账户 Pay to</b> {bank} · 请注明账单号 quote {quote}", s["base"]))
    notes.append(Spacer(1, 3 * mm))
    notes.append(
        Paragraph(
            f"Amounts in {invoice['currency']}. Each line's amount is rounded once to 0.01 (half up); tax is per line. "
            "This is a bill of charges (账单), not a tax fapiao (发票): fapiao are issued by the tax system and listed "
            "above once recorded. 金额按行四舍五入至分，税额按行计算。本账单不是发票。",
            s["small"],
        )
    )
    return notes


def percent(rate: str) -> str:
    """A tax rate as a percentage: "0.06" → "6%", "0.065" → "6.5%"."""
    from decimal import Decimal

    value = (Decimal(rate) * 100).normalize()
    return f"{value:f}%"


def _short(quantity: str) -> str:
    return quantity.rstrip("0").rstrip(".") if "." in quantity else quantity
