"""Issuer and tenant billing profiles, tenant search, fapiao records, invoices by number (SPEC §11)."""

from __future__ import annotations

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
ISSUER = {
    "legal_name": "北京卡时智算科技有限公司",
    "tax_id": "91110108MA01ABCD3X",
    "address": "北京市海淀区中关村大街 1 号",
    "phone": "+86 10 8888 0000",
    "email": "billing@kashi.example",
    "bank_name": "招商银行北京分行",
    "bank_account": "1109 0123 4567 890",
}


def test_issuer_profile_is_put_and_read_back_and_unknown_fields_are_refused(operator_client):
    answer = operator_client.put("/v1/issuer", json=ISSUER)
    assert answer.status_code == 200, answer.text
    stored = operator_client.get("/v1/issuer").json()
    assert {k: stored[k] for k in ISSUER} == ISSUER and stored["logo_png_base64"] is None
    bad = operator_client.put("/v1/issuer", json={**ISSUER, "vat_rate": "0.06"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "vat_rate"
    not_png = operator_client.put("/v1/issuer", json={**ISSUER, "logo_png_base64": "aGVsbG8="})
    assert not_png.status_code == 422 and not_png.json()["error"]["details"][0]["field"] == "logo_png_base64"


def test_tenant_billing_profile_on_create_patch_and_search(operator_client, uid):
    tenant_id = f"t-{uid}"
    created = operator_client.post(
        "/v1/tenants",
        json={
            "id": tenant_id,
            "name": f"算力客户 {uid}",
            "legal_name": f"上海{uid}科技有限公司",
            "tax_id": "91310000MA1FL4XN2K",
            "billing_email": "ap@example.cn",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (
        body["payment_terms_days"] == 30 and body["legal_name"] == f"上海{uid}科技有限公司" and body["address"] is None
    )
    assert body["created_at"].endswith("Z")  # instants in answers are UTC with a "Z" (docs/API.md)
    patched = operator_client.patch(f"/v1/tenants/{tenant_id}", json={"payment_terms_days": 45, "address": "上海市"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["payment_terms_days"] == 45 and patched.json()["legal_name"] == body["legal_name"]
    events = operator_client.get(f"/v1/tenants/{tenant_id}").json()
    assert events["address"] == "上海市"
    for bad in ({"timezone": "UTC"}, {"colour": "red"}, {"payment_terms_days": -1}, {"billing_email": "nope"}):
        answer = operator_client.patch(f"/v1/tenants/{tenant_id}", json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["details"][0]["field"] == next(iter(bad))
    unknown = operator_client.post("/v1/tenants", json={"id": f"u-{uid}", "nmae": "typo"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "nmae"
    found = operator_client.get("/v1/tenants", params={"q": f"上海{uid}"}).json()
    assert [t["id"] for t in found["items"]] == [tenant_id] and found["next_cursor"] is None
    assert [t["id"] for t in operator_client.get("/v1/tenants", params={"q": uid.upper()}).json()["items"]] == [
        tenant_id
    ]
    operator_client.post("/v1/tenants", json={"id": f"t-{uid}-2"}).raise_for_status()
    first = operator_client.get("/v1/tenants", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"] == first["items"][0]["id"]
    second = operator_client.get("/v1/tenants", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["id"] > first["items"][0]["id"]


def test_fapiao_is_recorded_listed_and_found_by_invoice_number(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
    number = operator_client.get(f"/v1/invoices/{invoice_id}").json()["number"]
    fapiao = {"number": f"2431{uid}", "issued_on": "2026-10-08", "kind": "special"}
    answer = operator_client.post(f"/v1/invoices/{invoice_id}/fapiao", json=fapiao)
    assert answer.status_code == 201, answer.text
    (listed,) = answer.json()["fapiao"]
    assert {k: listed[k] for k in fapiao} == fapiao
    again = operator_client.post(f"/v1/invoices/{invoice_id}/fapiao", json=fapiao)
    assert len(again.json()["fapiao"]) == 1
    assert operator_client.post(f"/v1/invoices/{invoice_id}/fapiao", json={**fapiao, "kind": "vat"}).status_code == 422
    found = operator_client.get(f"/v1/invoices/by-number/{number}")
    assert found.status_code == 200 and found.json()["id"] == invoice_id and found.json()["fapiao"] == [listed]
    assert operator_client.get("/v1/invoices/by-number/KS-1999-999999").status_code == 404
    export = operator_client.get("/v1/exports/invoice-lines", params={"period": "2026-09", "format": "csv"})
    import csv
    import io

    rows = [r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))) if r["invoice_number"] == number]
    assert rows and all(r["fapiao_numbers"] == f"2431{uid}" and len(r["due_on"]) == 10 for r in rows)
    statement = operator_client.get(f"/v1/tenants/{new_tenant}/statements/2026-09", params={"format": "csv"})
    (line,) = [r for r in csv.DictReader(io.StringIO(statement.content.decode("utf-8-sig"))) if r["kind"] == "invoice"]
    assert line["due_on"] == rows[0]["due_on"] and line["status"] in ("open", "overdue")


def test_a_profile_changed_after_issue_does_not_change_the_issued_pdf(kashi, uid, operator_client):
    import io

    from pypdf import PdfReader

    tenant_id = f"t-{uid}"
    operator_client.post(
        "/v1/tenants", json={"id": tenant_id, "legal_name": f"旧名称{uid}有限公司", "tax_id": "91310000MA1FL4XN2K"}
    ).raise_for_status()
    operator_client.put("/v1/issuer", json=ISSUER).raise_for_status()
    sign(kashi, contract(f"c-{uid}", tenant_id, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, tenant_id, Period(2026, 9))

    def pdf_text() -> str:
        pdf = operator_client.get(f"/v1/invoices/{invoice_id}.pdf").content
        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)

    before = pdf_text()
    assert f"旧名称{uid}有限公司" in before and ISSUER["legal_name"] in before and "7,632.00" in before
    operator_client.patch(
        f"/v1/tenants/{tenant_id}", json={"legal_name": f"新名称{uid}有限公司", "payment_terms_days": 90}
    ).raise_for_status()
    operator_client.put("/v1/issuer", json={**ISSUER, "legal_name": "另一家公司", "bank_account": "0000"})
    assert pdf_text() == before
    operator_client.put("/v1/issuer", json=ISSUER).raise_for_status()
