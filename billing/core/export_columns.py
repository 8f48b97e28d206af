"""The shape of the finance export of invoice lines (SPEC §8): its columns, in order, and a row [pure].

`billing.services.exports` fills rows in this order; `billing.documents` write them as CSV or xlsx.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Column:
    """name: the CSV header and JSON-like key; title: the bilingual xlsx header; kind: how cells are typed
    ("text", "money" 2 places, "number" as many places as stored, "rate", "date", "datetime")."""

    name: str
    title: str
    kind: str = "text"


INVOICE_LINE_COLUMNS = (
    Column("invoice_number", "账单号 Invoice number"),
    Column("invoice_period", "账期 Invoice period"),
    Column("issued_on", "出账日期 Issued on", "date"),
    Column("tenant_id", "客户编号 Tenant id"),
    Column("tenant_name", "客户名称 Tenant name"),
    Column("contract_id", "合同 Contract"),
    Column("item_id", "项目编号 Item"),
    Column("kind", "类型 Kind"),
    Column("description", "摘要 Description"),
    Column("line_period", "计费期 Line period"),
    Column("period_start", "起 Period start", "datetime"),
    Column("period_end", "止 Period end", "datetime"),
    Column("timezone", "时区 Timezone"),
    Column("quantity", "数量 Quantity", "number"),
    Column("unit", "单位 Unit"),
    Column("unit_price", "单价 Unit price", "number"),
    Column("amount", "金额 Amount", "money"),
    Column("tax_rate", "税率 Tax rate", "rate"),
    Column("tax", "税额 Tax", "money"),
    Column("total", "价税合计 Total", "money"),
    Column("currency", "币种 Currency"),
    Column("fapiao_numbers", "发票号码 Fapiao numbers"),
    Column("due_on", "到期日 Due on", "date"),
)
"""`fapiao_numbers`: the fapiao (发票, issued by the tax system) recorded for the invoice, space-separated;
`due_on`: the invoice's local due date as issued (empty for invoices issued before due dates were kept)."""

Row = tuple[str | date | datetime | Decimal, ...]
"""One export row, values in the order of INVOICE_LINE_COLUMNS."""
