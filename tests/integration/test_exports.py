"""The finance export of invoice lines on real servers (SPEC §8, §9): CSV with BOM, typed xlsx,
sums equal to the invoices' totals, an empty month is a header alone, finance and operator only."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import httpx
import openpyxl
import pytest
from sqlalchemy import text

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
from billing.services.exports import INVOICE_LINE_COLUMNS
from tests.integration.billing_scenario import contract, sign

HEADER = [c.name for c in INVOICE_LINE_COLUMNS]
MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "7200.00",
}
H100 = {
    "id": "i-h",
    "pricing": "gpu_hour",
    "gpu_model": "H100-SXM",
    "unit_price": "12.50",
    "committed_card_hours": "100",
}
EMPTY_MONTH = "1999-01"
"""No test closes a month of 1999."""


def _client(kashi, key):
    return httpx.Client(base_url=kashi.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


@pytest.fixture
def two_tenants(kashi, uid):
    ids = [f"t-{uid}-a", f"t-{uid}-b"]
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": ids[0], "name": "北京智算中心"}, actor="test")
        tenants.create(conn, {"id": ids[1], "name": 'Acme, "GPU" Ltd'}, actor="test")
    sign(kashi, contract(f"c-{uid}-a", ids[0], MACHINES, H100))
    sign(kashi, contract(f"c-{uid}-b", ids[1], MACHINES, currency="USD"))
    for tenant_id in ids:
        close_tenant(kashi.engine, tenant_id, Period(2026, 9))
    return ids


def _invoice_totals(kashi, period: str) -> dict[str, Decimal]:
    with kashi.engine.connect() as conn:
        rows = conn.execute(text("SELECT number, total FROM invoices WHERE period = :p"), {"p": period}).all()
    return {r.number: r.total for r in rows}


def test_csv_has_a_bom_every_line_and_sums_equal_the_invoice_totals(kashi, two_tenants):
    with _client(kashi, kashi.key("finance")) as finance:
        answer = finance.get("/v1/exports/invoice-lines", params={"period": "2026-09", "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    lines = [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]
    mine = [line for line in lines if line["tenant_id"] in two_tenants]
    assert [
        (line["tenant_name"], line["kind"], line["amount"], line["tax"], line["total"], line["currency"])
        for line in mine
    ] == [
        ("北京智算中心", "machine_month", "7200.00", "432.00", "7632.00", "CNY"),
        ("北京智算中心", "gpu_hour_shortfall", "1250.00", "75.00", "1325.00", "CNY"),
        ('Acme, "GPU" Ltd', "machine_month", "7200.00", "432.00", "7632.00", "USD"),
    ]
    first = mine[0]
    assert (first["invoice_period"], first["line_period"], first["period_start"], first["period_end"]) == (
        "2026-09",
        "2026-09",
        "2026-09-01 00:00:00",
        "2026-10-01 00:00:00",
    )
    assert first["timezone"] == "Asia/Shanghai" and first["tax_rate"] == "0.06"
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        assert Decimal(line["amount"]) + Decimal(line["tax"]) == Decimal(line["total"])
        sums[line["invoice_number"]] += Decimal(line["total"])
    assert sums == _invoice_totals(kashi, "2026-09")


def test_xlsx_has_typed_numeric_cells_frozen_header_and_the_invoice_totals(kashi, two_tenants, operator_client):
    answer = operator_client.get("/v1/exports/invoice-lines", params={"period": "2026-09", "format": "xlsx"})
    assert answer.status_code == 200, answer.text
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header == [c.title for c in INVOICE_LINE_COLUMNS]
    at = {c.name: i for i, c in enumerate(INVOICE_LINE_COLUMNS)}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    seen = set()
    for row in sheet.iter_rows(min_row=2):
        for name in ("amount", "tax", "total"):
            assert row[at[name]].data_type == "n" and row[at[name]].number_format == "#,##0.00"
        assert row[at["quantity"]].data_type == "n" and row[at["unit_price"]].data_type == "n"
        assert row[at["period_start"]].is_date
        sums[row[at["invoice_number"]].value] += Decimal(str(row[at["total"]].value))
        seen.add(row[at["tenant_name"]].value)
    assert {"北京智算中心", 'Acme, "GPU" Ltd'} <= seen
    assert {number: round(total, 2) for number, total in sums.items()} == _invoice_totals(kashi, "2026-09")


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_a_month_without_invoices_is_a_valid_file_with_only_a_header(operator_client, format):
    answer = operator_client.get("/v1/exports/invoice-lines", params={"period": EMPTY_MONTH, "format": format})
    assert answer.status_code == 200
    if format == "csv":
        assert answer.content == ("\ufeff" + ",".join(HEADER) + "\r\n").encode()
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
        assert [[c.value for c in row] for row in sheet.iter_rows()] == [[c.title for c in INVOICE_LINE_COLUMNS]]


def test_only_finance_and_operator_export(kashi, uid, new_tenant):
    path, params = "/v1/exports/invoice-lines", {"period": EMPTY_MONTH}
    with _client(kashi, kashi.key("tenant", tenant=new_tenant)) as tenant:
        assert tenant.get(path, params=params).status_code == 403
    with _client(kashi, kashi.key("agent", source=f"node/{uid}")) as agent:
        assert agent.get(path, params=params).status_code == 403
    with _client(kashi, kashi.key("finance")) as finance:
        assert finance.get(path, params=params).status_code == 200
        assert finance.get(path, params={"period": "2026-9"}).status_code == 422
        assert finance.get(path, params={"period": EMPTY_MONTH, "format": "pdf"}).status_code == 422
    assert httpx.get(f"{kashi.base_url}{path}", params=params).status_code == 401
