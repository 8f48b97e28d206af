"""Statements of account on real servers (SPEC §8, §9): JSON, CSV, xlsx and PDF agree; months chain."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openpyxl
import pytest
from pypdf import PdfReader

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
from billing.services.invoices import issue_credit_note
from tests.integration.billing_scenario import contract, sign

MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "7200.00",
}


def _client(kashi, key):
    return httpx.Client(base_url=kashi.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture
def billed_tenant(kashi, uid, operator_client):
    """深圳算力 with: September's CNY and USD invoices issued 1 Oct, a credit note on the CNY one 5 Oct,
    a payment 20 Oct, and October's invoices issued 2 Nov (October closed a day into November)."""
    tenant_id = f"t-{uid}-billed"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tenant_id, "name": "深圳算力有限公司"}, actor="test")
    sign(kashi, contract(f"c-{uid}", tenant_id, MACHINES))
    sign(kashi, contract(f"c-{uid}-usd", tenant_id, {**MACHINES, "unit_price": "1000.00"}, currency="USD"))
    september = close_tenant(kashi.engine, tenant_id, Period(2026, 9), now=datetime(2026, 10, 1, 1, tzinfo=UTC))
    cny = next(i for i in september if operator_client.get(f"/v1/invoices/{i}").json()["currency"] == "CNY")
    with kashi.engine.begin() as conn:
        issue_credit_note(
            conn, cny, {"amount": "106.00", "reason": "宕机补偿 outage"}, now=datetime(2026, 10, 5, 2, tzinfo=UTC)
        )
    answer = operator_client.post(
        "/v1/payments",
        json={
            "tenant_id": tenant_id,
            "amount": "5000.00",
            "currency": "CNY",
            "received_at": "2026-10-20T10:00:00+08:00",
            "reference": f"BANK-{uid}",
        },
    )
    assert answer.status_code == 201, answer.text
    close_tenant(kashi.engine, tenant_id, Period(2026, 10), now=datetime(2026, 11, 2, 1, tzinfo=UTC))
    return tenant_id


def _statement(client, tenant_id: str, month: str) -> dict:
    answer = client.get(f"/v1/tenants/{tenant_id}/statements/{month}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_closing_a_period_puts_its_invoice_on_that_periods_statement(billed_tenant, operator_client):
    september = _statement(operator_client, billed_tenant, "2026-09")
    (invoice,) = september["invoices"]
    assert september["currency"] == "CNY" and september["opening_balance"] == "0.00"
    assert {k: invoice[k] for k in ("period", "issued_at", "subtotal", "tax", "total")} == {
        "period": "2026-09",
        "issued_at": "2026-10-01T01:00:00Z",
        "subtotal": "7200.00",
        "tax": "432.00",
        "total": "7632.00",
    }
    assert operator_client.get(f"/v1/invoices/{invoice['id']}").json()["number"] == invoice["number"]
    assert (september["credit_notes"], september["payments"], september["closing_balance"]) == ([], [], "7632.00")
    # October, closed on 2 November: its invoice is on October's statement, not November's.
    october = _statement(operator_client, billed_tenant, "2026-10")
    assert [i["period"] for i in october["invoices"]] == ["2026-10"]
    assert october["invoices"][0]["issued_at"] == "2026-11-02T01:00:00Z"
    november = _statement(operator_client, billed_tenant, "2026-11")
    assert november["invoices"] == [] and all(p["invoices"] == [] for p in november["currencies"])


def test_october_lists_its_invoice_septembers_credit_note_and_the_payment(billed_tenant, operator_client):
    statement = _statement(operator_client, billed_tenant, "2026-10")
    assert statement["tenant_name"] == "深圳算力有限公司" and statement["period_start"] == "2026-09-30T16:00:00Z"
    cny, usd = statement["currencies"]
    assert (cny["currency"], usd["currency"]) == ("CNY", "USD")
    assert cny["opening_balance"] == "7632.00"
    assert [(e["date"], e["kind"], e["debit"], e["credit"], e["balance"]) for e in cny["entries"]] == [
        ("2026-10-05", "credit_note", "0.00", "106.00", "7526.00"),
        ("2026-10-20", "payment", "0.00", "5000.00", "2526.00"),
        ("2026-11-02", "invoice", "7632.00", "0.00", "10158.00"),
    ]
    (note,) = cny["credit_notes"]
    september_invoice = _statement(operator_client, billed_tenant, "2026-09")["invoices"][0]
    assert (note["invoice_id"], note["invoice_number"]) == (september_invoice["id"], september_invoice["number"])
    assert (note["amount"], note["reason"], note["issued_at"]) == ("106.00", "宕机补偿 outage", "2026-10-05T02:00:00Z")
    assert cny["entries"][0]["refers_to"] == september_invoice["number"]
    (payment,) = cny["payments"]
    assert (payment["reference"], payment["amount"], payment["received_at"]) == (
        f"BANK-{billed_tenant.split('-')[1]}",
        "5000.00",
        "2026-10-20T02:00:00Z",
    )
    assert [e["id"] for e in cny["entries"]] == [note["id"], payment["id"], cny["invoices"][0]["id"]]
    assert (cny["invoiced"], cny["credited"], cny["paid"], cny["closing_balance"]) == (
        "7632.00",
        "106.00",
        "5000.00",
        "10158.00",
    )
    assert (usd["opening_balance"], usd["closing_balance"]) == ("1060.00", "2120.00")
    assert [i["period"] for i in usd["invoices"]] == ["2026-10"] and usd["payments"] == []
    # The top level is the tenant's own currency, CNY.
    assert {
        k: statement[k]
        for k in ("currency", "opening_balance", "invoices", "credit_notes", "payments", "closing_balance")
    } == {k: cny[k] for k in ("currency", "opening_balance", "invoices", "credit_notes", "payments", "closing_balance")}


def test_each_month_opens_at_the_closing_of_the_month_before(billed_tenant, operator_client):
    months = [_statement(operator_client, billed_tenant, f"2026-{m:02d}") for m in (8, 9, 10, 11, 12)]
    assert months[0]["currencies"] == [
        {
            "currency": "CNY",
            "opening_balance": "0.00",
            "invoices": [],
            "credit_notes": [],
            "payments": [],
            "entries": [],
            "invoiced": "0.00",
            "credited": "0.00",
            "paid": "0.00",
            "closing_balance": "0.00",
        }
    ]
    for before, after in zip(months, months[1:], strict=False):
        assert after["opening_balance"] == before["closing_balance"]
        closing = {p["currency"]: p["closing_balance"] for p in before["currencies"]}
        opening = {p["currency"]: p["opening_balance"] for p in after["currencies"]}
        assert {c: v for c, v in closing.items() if v != "0.00"} == {c: v for c, v in opening.items() if v != "0.00"}
    november = {p["currency"]: p for p in months[3]["currencies"]}
    assert november["CNY"]["opening_balance"] == november["CNY"]["closing_balance"] == "10158.00"
    assert november["USD"]["opening_balance"] == november["USD"]["closing_balance"] == "2120.00"
    balance = operator_client.get(f"/v1/tenants/{billed_tenant}/balance").json()["balances"]
    assert {b["currency"]: b["balance"] for b in balance} == {
        p["currency"]: p["closing_balance"] for p in months[4]["currencies"]
    }


def test_a_payment_dated_after_the_period_is_on_the_next_months_statement(kashi, uid, operator_client):
    tenant_id = f"t-{uid}-usd"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tenant_id, "name": "Only USD"}, actor="test")
    sign(kashi, contract(f"c-{uid}-usd", tenant_id, {**MACHINES, "unit_price": "1000.00"}, currency="USD"))
    close_tenant(kashi.engine, tenant_id, Period(2026, 9), now=datetime(2026, 10, 1, 1, tzinfo=UTC))
    answer = operator_client.post(
        "/v1/payments",
        json={
            "tenant_id": tenant_id,
            "amount": "1060.00",
            "currency": "USD",
            "received_at": "2026-10-03T10:00:00+08:00",
            "reference": f"WIRE-{uid}",
        },
    )
    assert answer.status_code == 201, answer.text
    september, october = (_statement(operator_client, tenant_id, m) for m in ("2026-09", "2026-10"))
    # A CNY tenant billed only in USD: the top level is the USD block.
    assert (september["currency"], len(september["invoices"]), september["payments"]) == ("USD", 1, [])
    assert (october["currency"], october["invoices"], [p["reference"] for p in october["payments"]]) == (
        "USD",
        [],
        [f"WIRE-{uid}"],
    )
    assert (september["closing_balance"], october["opening_balance"], october["closing_balance"]) == (
        "1060.00",
        "1060.00",
        "0.00",
    )


ENTRY_KEYS = ("date", "kind", "id", "number", "refers_to", "description", "debit", "credit", "balance")


def test_csv_read_back_equals_the_json(billed_tenant, operator_client):
    statement = operator_client.get(f"/v1/tenants/{billed_tenant}/statements/2026-10").json()
    answer = operator_client.get(f"/v1/tenants/{billed_tenant}/statements/2026-10", params={"format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    pages = []
    for row in rows:
        assert (row["tenant_id"], row["period"]) == (billed_tenant, "2026-10")
        if row["kind"] == "opening_balance":
            pages.append({"currency": row["currency"], "opening_balance": row["balance"], "entries": []})
        elif row["kind"] == "closing_balance":
            pages[-1] |= {"closing_balance": row["balance"], "invoiced": row["debit"]}
        else:
            pages[-1]["entries"].append({k: row[k] for k in ENTRY_KEYS})
    expected = [
        {
            "currency": p["currency"],
            "opening_balance": p["opening_balance"],
            "closing_balance": p["closing_balance"],
            "invoiced": p["invoiced"],
            "entries": [{k: v for k, v in e.items() if k != "at"} for e in p["entries"]],
        }
        for p in statement["currencies"]
    ]
    assert pages == expected
    # Every invoice, credit note and payment of the JSON is a row of the CSV, with its amount.
    for page in statement["currencies"]:
        rows_of = {(r["kind"], r["id"]): r for r in rows if r["currency"] == page["currency"]}
        assert [rows_of["invoice", i["id"]]["debit"] for i in page["invoices"]] == [
            i["total"] for i in page["invoices"]
        ]
        assert [rows_of["credit_note", n["id"]]["credit"] for n in page["credit_notes"]] == [
            n["amount"] for n in page["credit_notes"]
        ]
        assert [rows_of["payment", p["id"]]["credit"] for p in page["payments"]] == [
            p["amount"] for p in page["payments"]
        ]
    assert statement["invoices"] and statement["credit_notes"] and statement["payments"]


def test_xlsx_has_numeric_cells_and_the_json_totals(billed_tenant, operator_client):
    statement = operator_client.get(f"/v1/tenants/{billed_tenant}/statements/2026-10").json()
    answer = operator_client.get(f"/v1/tenants/{billed_tenant}/statements/2026-10", params={"format": "xlsx"})
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["CNY", "USD"]
    for page in statement["currencies"]:
        sheet = book[page["currency"]]
        assert sheet.freeze_panes == "A4"
        assert [c.value for c in sheet[3]][:2] == ["日期 Date", "类型 Kind"]
        rows = list(sheet.iter_rows(min_row=4))
        opening, *entries, closing = rows
        assert opening[1].value == "opening_balance" and closing[1].value == "closing_balance"
        assert Decimal(str(opening[7].value)) == Decimal(page["opening_balance"])
        assert Decimal(str(closing[7].value)) == Decimal(page["closing_balance"])
        for cell in (c for row in rows for c in row[5:8] if c.value is not None):
            assert cell.data_type == "n" and cell.number_format == "#,##0.00"
        debits = sum((Decimal(str(r[5].value)) for r in entries if r[5].value is not None), Decimal(0))
        assert debits == Decimal(page["invoiced"]) == Decimal(str(closing[5].value))
        assert [r[0].value.date().isoformat() for r in entries] == [e["date"] for e in page["entries"]]


def test_pdf_renders_the_chinese_name_and_the_balances(billed_tenant, operator_client, tmp_path):
    answer = operator_client.get(f"/v1/tenants/{billed_tenant}/statements/2026-10", params={"format": "pdf"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    # Read the text back (pypdf, so no system tool is needed): the CJK glyphs are real text, not boxes,
    # with the embedded TrueType font and with the STSong-Light fallback alike.
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    assert "对账单 Statement 2026-10" in text and "深圳算力有限公司" in text and "宕机补偿" in text
    assert "期末余额 Closing balance" in text and "10,158.00" in text and "2,120.00" in text
    assert "账单 Invoice" in text and "发票 Invoice" not in text and "客户 Bill to" in text


def test_tenant_reads_its_own_finance_all_agent_none(kashi, uid, billed_tenant, new_tenant):
    path = f"/v1/tenants/{billed_tenant}/statements/2026-10"
    with _client(kashi, kashi.key("tenant", tenant=billed_tenant)) as own:
        assert own.get(path).status_code == 200
        assert own.get(path, params={"format": "pdf"}).status_code == 200
        assert own.get(f"/v1/tenants/{new_tenant}/statements/2026-10").status_code == 404
    with _client(kashi, kashi.key("tenant", tenant=new_tenant)) as other:
        for format in ("json", "csv", "xlsx", "pdf"):
            assert other.get(path, params={"format": format}).status_code == 404
    with _client(kashi, kashi.key("finance")) as finance:
        assert finance.get(path).status_code == 200
        assert finance.get(f"/v1/tenants/nobody-{uid}/statements/2026-10").status_code == 404
        assert finance.get(f"/v1/tenants/{billed_tenant}/statements/2026-13").status_code == 422
        assert finance.get(path, params={"format": "docx"}).status_code == 422
    with _client(kashi, kashi.key("agent", source=f"node/{uid}")) as agent:
        assert agent.get(path).status_code == 403
    assert httpx.get(f"{kashi.base_url}{path}").status_code == 401
