"""Invoice status, payment allocation, credit balances, aged receivables and the invoice preview on real
servers (SPEC §12)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from billing.core.periods import Period
from billing.services import invoices, payments
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, gpu_event, send, sign

SHANGHAI = ZoneInfo("Asia/Shanghai")
MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "7200.00",
}
HOURS = {
    "id": "i-h",
    "pricing": "gpu_hour",
    "gpu_model": "H100-SXM",
    "unit_price": "12.50",
    "committed_card_hours": "10",
}


def _local(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=SHANGHAI)


def _close(kashi, tenant_id: str, month: int, issued: str) -> str:
    (invoice_id,) = close_tenant(kashi.engine, tenant_id, Period(2026, month), now=_local(issued))
    return invoice_id


def _pay(kashi, tenant_id: str, reference: str, amount: str, received: str, invoice_id: str | None = None) -> dict:
    body = {
        "tenant_id": tenant_id,
        "amount": amount,
        "currency": "CNY",
        "received_at": received,
        "reference": reference,
    }
    if invoice_id:
        body["invoice_id"] = invoice_id
    with kashi.engine.begin() as conn:
        return payments.record_payment(conn, body)[0]


def _invoice(kashi, invoice_id: str) -> dict:
    with kashi.engine.connect() as conn:
        return invoices.invoice_json(conn, invoice_id)


def _figures(invoice: dict) -> tuple:
    return invoice["status"], invoice["amount_paid"], invoice["amount_credited"], invoice["amount_due"]


def test_status_through_partial_payment_overdue_full_payment(kashi, uid, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    invoice_id = _close(kashi, new_tenant, 9, "2026-10-02T10:00:00")
    with freeze_time("2026-10-10T00:00:00Z"):
        invoice = _invoice(kashi, invoice_id)
        assert invoice["due_at"] == "2026-11-01T15:59:59Z"
        assert _figures(invoice) == ("open", "0.00", "0.00", "7632.00")
        _pay(kashi, new_tenant, f"r1-{uid}", "1000.00", "2026-10-09T10:00:00+08:00")
        assert _figures(_invoice(kashi, invoice_id)) == ("partially_paid", "1000.00", "0.00", "6632.00")
    with freeze_time("2026-11-01T15:59:59Z"):
        assert _invoice(kashi, invoice_id)["status"] == "partially_paid"
    with freeze_time("2026-11-01T16:00:00Z"):
        assert _figures(_invoice(kashi, invoice_id)) == ("overdue", "1000.00", "0.00", "6632.00")
        _pay(kashi, new_tenant, f"r2-{uid}", "6632.00", "2026-11-02T10:00:00+08:00")
        assert _figures(_invoice(kashi, invoice_id)) == ("paid", "7632.00", "0.00", "0.00")
    with kashi.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM invoices WHERE id = :i"), {"i": invoice_id}).one()
    assert row.total == 7632 and not hasattr(row, "status")  # derived, never stored


def test_credit_note_makes_an_invoice_credited_and_a_partial_one_lowers_what_is_due(kashi, uid, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    invoice_id = _close(kashi, new_tenant, 9, "2026-10-02T10:00:00")
    with freeze_time("2026-10-10T00:00:00Z"):
        with kashi.engine.begin() as conn:
            invoices.issue_credit_note(conn, invoice_id, {"amount": "632.00", "reason": "停机补偿"})
        assert _figures(_invoice(kashi, invoice_id)) == ("open", "0.00", "632.00", "7000.00")
        _pay(kashi, new_tenant, f"r1-{uid}", "7000.00", "2026-10-09T10:00:00+08:00")
        assert _figures(_invoice(kashi, invoice_id)) == ("paid", "7000.00", "632.00", "0.00")
    other = f"{new_tenant}-b"
    with kashi.engine.begin() as conn:
        from billing.services import tenants

        tenants.create(conn, {"id": other}, actor="test")
    sign(kashi, contract(f"c-{uid}-b", other, MACHINES))
    second = _close(kashi, other, 9, "2026-10-02T10:00:00")
    with kashi.engine.begin() as conn:
        invoices.issue_credit_note(conn, second, {"amount": "7632.00", "reason": "合同撤销"})
    assert _figures(_invoice(kashi, second)) == ("credited", "0.00", "7632.00", "0.00")


def test_payments_pay_the_oldest_invoice_first_a_named_one_first_and_credit_carries_forward(
    kashi, uid, new_tenant, operator_client
):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    september = _close(kashi, new_tenant, 9, "2026-10-02T10:00:00")
    october = _close(kashi, new_tenant, 10, "2026-11-02T10:00:00")
    named = _pay(kashi, new_tenant, f"r1-{uid}", "1000.00", "2026-11-03T10:00:00+08:00", invoice_id=october)
    unnamed = _pay(kashi, new_tenant, f"r2-{uid}", "8000.00", "2026-11-04T10:00:00+08:00")
    assert [(a["invoice_id"], a["amount"]) for a in named["allocations"]] == [(october, "1000.00")]
    assert [(a["invoice_id"], a["amount"]) for a in unnamed["allocations"]] == [
        (september, "7632.00"),
        (october, "368.00"),
    ]
    over = _pay(kashi, new_tenant, f"r3-{uid}", "7000.00", "2026-11-05T10:00:00+08:00")
    assert (
        over["allocations"]
        == [{"invoice_id": october, "invoice_number": _invoice(kashi, october)["number"], "amount": "6264.00"}]
        and over["unallocated"] == "736.00"
    )
    november = _close(kashi, new_tenant, 11, "2026-12-01T10:00:00")
    answer = operator_client.get(f"/v1/payments/{over['id']}")
    assert answer.status_code == 200, answer.text
    assert [(a["invoice_id"], a["amount"]) for a in answer.json()["allocations"]] == [
        (october, "6264.00"),
        (november, "736.00"),
    ]
    assert answer.json()["unallocated"] == "0.00"
    assert _invoice(kashi, november)["amount_paid"] == "736.00"
    wrong = operator_client.post(
        "/v1/payments",
        json={
            "tenant_id": new_tenant,
            "amount": "1.00",
            "currency": "CNY",
            "received_at": "2026-11-05T10:00:00+08:00",
            "reference": f"r4-{uid}",
            "invoice_id": "inv_nope",
        },
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["field"] == "invoice_id"
    typo = operator_client.post(
        "/v1/payments",
        json={
            "tenant_id": new_tenant,
            "amount": "1.00",
            "currency": "CNY",
            "received_at": "2026-11-05T10:00:00+08:00",
            "reference": f"r5-{uid}",
            "memo": "x",
        },
    )
    assert typo.status_code == 422 and typo.json()["error"]["details"][0]["field"] == "memo"


@pytest.mark.parametrize(
    ("days", "bucket"), [(0, "current"), (1, "1_30"), (30, "1_30"), (31, "31_60"), (90, "61_90"), (91, "over_90")]
)
def test_receivables_age_by_days_past_the_local_due_date(kashi, uid, new_tenant, operator_client, days, bucket):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    _close(kashi, new_tenant, 9, "2026-10-02T23:30:00")  # due 2026-11-01 (Shanghai)
    as_of = date(2026, 11, 1) + timedelta(days=days)
    answer = operator_client.get("/v1/reports/receivables", params={"as_of": as_of.isoformat()})
    assert answer.status_code == 200, answer.text
    (row,) = [r for r in answer.json()["items"] if r["tenant_id"] == new_tenant]
    assert row[bucket] == "7632.00" and row["total_due"] == "7632.00"
    assert all(row[b] == "0.00" for b in ("current", "1_30", "31_60", "61_90", "over_90") if b != bucket)
    before = operator_client.get("/v1/reports/receivables", params={"as_of": "2026-10-01"}).json()
    assert new_tenant not in [r["tenant_id"] for r in before["items"]]  # not issued yet on that day


def test_receivables_report_in_csv_and_xlsx_and_for_finance_only(kashi, uid, new_tenant, operator_client):
    import io

    import httpx
    import openpyxl

    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    _close(kashi, new_tenant, 9, "2026-10-02T10:00:00")
    csv = operator_client.get("/v1/reports/receivables", params={"as_of": "2026-11-15", "format": "csv"})
    assert csv.content.startswith(b"\xef\xbb\xbf")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "tenant_id,tenant_name,currency,current,1_30,31_60,61_90,over_90,total_due,credit_balance"
    assert f"{new_tenant},Tenant {uid},CNY,0.00,7632.00,0.00,0.00,0.00,7632.00,0.00" in lines
    xlsx = operator_client.get("/v1/reports/receivables", params={"as_of": "2026-11-15", "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    (row,) = [r for r in sheet.iter_rows(min_row=3, values_only=True) if r[0] == new_tenant]
    assert float(row[4]) == 7632.0
    with httpx.Client(base_url=kashi.base_url, headers={"Authorization": f"Bearer {kashi.key('finance')}"}) as c:
        assert c.get("/v1/reports/receivables").status_code == 200
    with httpx.Client(
        base_url=kashi.base_url, headers={"Authorization": f"Bearer {kashi.key('tenant', tenant=new_tenant)}"}
    ) as c:
        assert c.get("/v1/reports/receivables").status_code == 403
    assert operator_client.get("/v1/reports/receivables", params={"format": "pdf"}).status_code == 422


def test_preview_equals_the_invoice_the_close_then_issues_and_changes_nothing(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES, HOURS))
    send(kashi, uid, [gpu_event(uid, 1, new_tenant, "2026-09-03T00:00:00+08:00", "2026-09-03T06:00:00+08:00")])
    with kashi.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM invoices")).scalar_one()
    answer = operator_client.get(f"/v1/tenants/{new_tenant}/invoice-preview", params={"period": "2026-09"})
    assert answer.status_code == 200, answer.text
    draft = answer.json()
    assert draft["number"] is None and draft["id"] is None and draft["status"] == "draft"
    with kashi.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM invoices")).scalar_one() == count
    issued = operator_client.get(f"/v1/invoices/{_close(kashi, new_tenant, 9, '2026-10-02T10:00:00')}").json()
    for key in ("tenant_id", "period", "currency", "lines", "subtotal", "tax", "total"):
        assert draft[key] == issued[key], key
    assert [line["kind"] for line in issued["lines"]] == ["machine_month", "gpu_hour", "gpu_hour_shortfall"]
    again = operator_client.get(f"/v1/tenants/{new_tenant}/invoice-preview", params={"period": "2026-09"})
    assert again.status_code == 409
    running = operator_client.get(f"/v1/tenants/{new_tenant}/invoice-preview", params={"period": "2026-12"})
    assert running.status_code == 200 and running.json()["status"] == "draft"
    assert running.json()["lines"][0]["kind"] == "machine_month"
