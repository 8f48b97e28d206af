"""An invoice as an A4 PDF (SPEC §7), rendering only: it reads the invoice JSON and draws it.

Font (an embedded CJK font for Chinese names), styles and colours are shared with the statement
PDF in `billing.documents.style`.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.documents.style import CID_FONT, CJK_FONTS, EMBEDDED_FONT  # noqa: F401 (their old home)
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
    "sla_credit": "SLA 服务赔付 SLA credit",
}


def render_invoice(invoice: dict[str, Any], *, tenant_name: str, timezone: str = "Asia/Shanghai",
                   issuer: str = "Kashi 卡时") -> bytes:  # fmt: skip
    """The PDF bytes of `invoice` (the SPEC §7 JSON, as `billing.invoice_store.invoice_json` gives it)."""
    s = _styles()
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"Invoice {invoice['number']}", author=issuer)  # fmt: skip
    currency = invoice["currency"]
    story: list = [
        Paragraph(f"发票 Invoice {invoice['number']}", s["title"]),
        Spacer(1, 4 * mm),
        _facts(invoice, tenant_name, timezone, issuer, s),
        Spacer(1, 6 * mm),
        _lines(invoice, timezone, s),
        Spacer(1, 4 * mm),
        _totals(invoice, s),
    ]
    if invoice.get("credit_notes"):
        story += [Spacer(1, 4 * mm), Paragraph("红字发票 Credit notes", s["base"])]
        for note in invoice["credit_notes"]:
            story.append(Paragraph(f"{note['number']}: −{note['amount']} {currency} — {note['reason']}", s["small"]))
    story += [
        Spacer(1, 8 * mm),
        Paragraph(
            "Amounts in " + currency + ". Each line's amount is rounded once to 0.01 (half up); tax is "
            "per line. 金额按行四舍五入至分，税额按行计算。",
            s["small"],
        ),  # fmt: skip
    ]
    doc.build(story)
    return out.getvalue()


def _facts(invoice: dict, tenant_name: str, tz: str, issuer: str, s: dict) -> Table:
    rows = [
        ["开票方 Issuer", issuer, "发票号 Number", invoice["number"]],
        ["客户 Tenant", f"{tenant_name} ({invoice['tenant_id']})", "账期 Period", invoice["period"]],
        ["币种 Currency", invoice["currency"], "开票日期 Issued", _local(invoice["issued_at"], tz)],
    ]
    table = Table([[Paragraph(str(c), s["base"]) for c in row] for row in rows],
                  colWidths=[28 * mm, 67 * mm, 30 * mm, 55 * mm])  # fmt: skip
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#555555")),
                               ("TEXTCOLOR", (2, 0), (2, -1), colors.HexColor("#555555"))]))  # fmt: skip
    return table


def _lines(invoice: dict, tz: str, s: dict) -> Table:
    head = ["项目 Item", "数量 Qty", "单位 Unit", "单价 Unit price", "金额 Amount", "税率 Tax", "税额 Tax amt"]
    rows = [[Paragraph(h, s["head"]) for h in head]]
    for line in invoice["lines"]:
        what = f"<b>{_KIND.get(line['kind'], line['kind'])}</b><br/>{_escape(line['description'])}"
        ids = f"{line['contract_id']}" + (f" / {line['item_id']}" if line["item_id"] else "")
        rows.append([
            Paragraph(f"{what}<br/><font size=6.5 color='#666666'>{_escape(ids)}</font>", s["base"]),
            Paragraph(_short(line["quantity"]), s["right"]),
            Paragraph(line["unit"], s["base"]),
            Paragraph(line["unit_price"], s["right"]),
            Paragraph(line["amount"], s["right"]),
            Paragraph(f"{float(line['tax_rate']) * 100:g}%", s["right"]),
            Paragraph(line["tax"], s["right"]),
        ])  # fmt: skip
    table = Table(rows, colWidths=[55 * mm, 19 * mm, 26 * mm, 22 * mm, 24 * mm, 12 * mm, 22 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3a5f")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7fa")]),
    ]))  # fmt: skip
    return table


def _totals(invoice: dict, s: dict) -> Table:
    currency = invoice["currency"]
    rows = [
        ["小计 Subtotal", f"{invoice['subtotal']} {currency}"],
        ["税额 Tax", f"{invoice['tax']} {currency}"],
        ["合计 Total", f"<b>{invoice['total']} {currency}</b>"],
    ]
    table = Table([[Paragraph(a, s["right"]), Paragraph(b, s["right"])] for a, b in rows],
                  colWidths=[140 * mm, 40 * mm])  # fmt: skip
    table.setStyle(TableStyle([("LINEABOVE", (0, 2), (-1, 2), 0.8, colors.black)]))
    return table


def _short(quantity: str) -> str:
    return quantity.rstrip("0").rstrip(".") if "." in quantity else quantity
