"""Reading invoices, tenant scoping, PDF, payments and balances on real servers (SPEC §7, §8, §9)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from billing.core.periods import Period
from billing.services.close import close_tenant
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


def test_invoice_json_has_the_spec_fields_and_money_as_strings(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES, start="2026-09-16T00:00:00+08:00"))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    invoice = operator_client.get(f"/v1/invoices/{invoice_id}").json()
    assert list(invoice) == [
        "id",
        "number",
        "tenant_id",
        "period",
        "currency",
        "issued_at",
        "lines",
        "subtotal",
        "tax",
        "total",
        "due_at",
        "amount_credited",
        "amount_paid",
        "amount_due",
        "status",
        "fapiao",
    ]
    (line,) = invoice["lines"]
    assert list(line) == [
        "kind",
        "contract_id",
        "item_id",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "amount",
        "tax_rate",
        "tax",
        "period_start",
        "period_end",
    ]
    assert line["kind"] == "machine_month" and line["amount"] == "3600.00" and line["tax"] == "216.00"
    assert line["period_start"] == "2026-09-15T16:00:00Z" and line["period_end"] == "2026-09-30T16:00:00Z"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("3600.00", "216.00", "3816.00")
    listed = operator_client.get("/v1/invoices", params={"tenant_id": new_tenant, "period": "2026-09"}).json()
    assert listed == {"items": [invoice], "next_cursor": None}
    pdf = operator_client.get(f"/v1/invoices/{invoice_id}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert operator_client.get(f"/v1/invoices/{invoice_id}", params={"format": "pdf"}).content.startswith(b"%PDF")


def test_accept_header_picks_pdf_or_json(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    url = f"/v1/invoices/{invoice_id}"
    for accept in ("application/pdf", "application/json;q=0.5, application/pdf"):
        answer = operator_client.get(url, headers={"Accept": accept})
        assert answer.headers["content-type"] == "application/pdf" and answer.content.startswith(b"%PDF"), accept
    for accept in ("*/*", "application/json", "application/json, application/pdf;q=0.9", "text/html, */*;q=0.8"):
        assert operator_client.get(url, headers={"Accept": accept}).json()["id"] == invoice_id, accept
    assert operator_client.get(url, params={"format": "json"}, headers={"Accept": "application/pdf"}).json()


def test_credit_notes_are_read_apart_and_leave_the_invoice_json_unchanged(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    before = operator_client.get(f"/v1/invoices/{invoice_id}").json()
    empty = operator_client.get(f"/v1/invoices/{invoice_id}/credit-notes").json()
    assert empty == {"items": [], "next_cursor": None, "remaining": "7632.00"}
    note = operator_client.post(f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": "100.50", "reason": "停机"})
    assert note.status_code == 201, note.text
    after = operator_client.get(f"/v1/invoices/{invoice_id}").json()
    derived = ("amount_credited", "amount_due")
    assert {k: v for k, v in after.items() if k not in derived} == {k: v for k, v in before.items() if k not in derived}
    assert (after["amount_credited"], after["amount_due"]) == ("100.50", "7531.50")
    notes = operator_client.get(f"/v1/invoices/{invoice_id}/credit-notes").json()
    assert notes == {"items": [note.json()], "next_cursor": None, "remaining": "7531.50"}
    with _client(kashi, kashi.key("tenant", tenant=new_tenant)) as own:
        assert own.get(f"/v1/invoices/{invoice_id}/credit-notes").json() == notes
    with _client(kashi, kashi.key("finance")) as finance:
        assert finance.get(f"/v1/invoices/{invoice_id}/credit-notes").json() == notes
    with _client(kashi, kashi.key("tenant", tenant=f"other-{uid}")) as other:
        assert other.get(f"/v1/invoices/{invoice_id}/credit-notes").status_code == 404
    assert operator_client.get(f"/v1/invoices/inv_missing-{uid}/credit-notes").status_code == 404


def test_empty_list_parameters_are_absent(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    with _client(kashi, kashi.key("tenant", tenant=new_tenant)) as own:
        answer = own.get("/v1/invoices?tenant_id=&period=")
        assert answer.status_code == 200, answer.text
        assert [item["id"] for item in answer.json()["items"]] == [invoice_id]
    answer = operator_client.get(f"/v1/invoices?tenant_id={new_tenant}&period=&cursor=")
    assert answer.status_code == 200, answer.text
    assert [item["id"] for item in answer.json()["items"]] == [invoice_id]
    everyone = operator_client.get("/v1/invoices?tenant_id=&period=2026-09&limit=500")
    assert everyone.status_code == 200 and everyone.json()["items"]


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"cursor": "KC-2026-000001"}, {"period": "2026-13"}])
def test_a_bad_list_parameter_is_refused_naming_it(operator_client, params):
    answer = operator_client.get("/v1/invoices", params=params)
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == list(params)


def test_tenant_key_sees_only_its_own_invoices(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    with _client(kashi, kashi.key("tenant", tenant=new_tenant)) as own:
        assert own.get(f"/v1/invoices/{invoice_id}").status_code == 200
        assert [i["id"] for i in own.get("/v1/invoices").json()["items"]] == [invoice_id]
        assert (
            own.post(f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": "1", "reason": "x"}).status_code == 403
        )
    with _client(kashi, kashi.key("tenant", tenant=f"other-{uid}")) as other:
        assert other.get(f"/v1/invoices/{invoice_id}").status_code == 404
        assert other.get(f"/v1/invoices/{invoice_id}.pdf").status_code == 404
        assert other.get("/v1/invoices", params={"tenant_id": new_tenant}).status_code == 404
    with _client(kashi, kashi.key("finance")) as finance:
        assert finance.get(f"/v1/invoices/{invoice_id}").status_code == 200


def test_list_is_cursor_paginated(kashi, uid, operator_client):
    from billing.services import tenants

    ids = []
    for n in range(3):
        tenant_id = f"t-{uid}-{n}"
        with kashi.engine.begin() as conn:
            tenants.create(conn, {"id": tenant_id, "name": tenant_id}, actor="test")
        sign(kashi, contract(f"c-{uid}-{n}", tenant_id, MACHINES))
        ids += close_tenant(kashi.engine, tenant_id, Period(2026, 9))
    seen, cursor = [], None
    while True:
        params = {"period": "2026-09", "limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = operator_client.get("/v1/invoices", params=params).json()
        seen += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))


def test_duplicate_payment_reference_records_one_payment(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    payment = {
        "tenant_id": new_tenant,
        "amount": "5000.00",
        "currency": "CNY",
        "received_at": "2026-10-10T10:00:00+08:00",
        "reference": f"BANK-{uid}",
    }
    first = operator_client.post("/v1/payments", json=payment)
    again = operator_client.post("/v1/payments", json=payment)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert operator_client.post("/v1/payments", json=payment | {"amount": "1.00"}).status_code == 409
    assert operator_client.post("/v1/payments", json=payment | {"amount": 5000.5}).status_code == 422
    with kashi.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM payments WHERE tenant_id = :t"), {"t": new_tenant}).scalar()
    assert count == 1
    balance = operator_client.get(f"/v1/tenants/{new_tenant}/balance").json()["balances"]
    assert balance == [
        {"currency": "CNY", "invoiced": "7632.00", "credited": "0.00", "paid": "5000.00", "balance": "2632.00"}
    ]
