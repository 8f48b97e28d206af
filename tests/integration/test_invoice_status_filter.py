"""GET /v1/invoices?status=: the derived status filters the listing, and its cursor continues the
same filter past invoices of another status (the console's invoice list pages with it)."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.core.periods import Period
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, sign

MACHINES = {
    "id": "m",
    "pricing": "machine_month",
    "gpu_model": "H100-SXM",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "1000.00",
}


def test_the_status_filter_pages_over_invoices_of_other_statuses(kashi, new_tenant, operator_client):
    sign(kashi, contract(f"c-{new_tenant}", new_tenant, MACHINES, start="2025-01-01T00:00:00+08:00"))
    ids = [
        close_tenant(kashi.engine, new_tenant, Period(2025, month), now=datetime(2025, month + 1, 2, tzinfo=UTC))[0]
        for month in (1, 2, 3)
    ]
    february = operator_client.get(f"/v1/invoices/{ids[1]}").json()
    paid = operator_client.post(
        "/v1/payments",
        json={
            "tenant_id": new_tenant,
            "amount": february["total"],
            "currency": "CNY",
            "received_at": "2025-03-10T10:00:00+08:00",
            "reference": f"pay-{new_tenant}",
            "invoice_id": ids[1],
        },
    )
    assert paid.status_code == 201, paid.text

    def listing(**params):
        answer = operator_client.get("/v1/invoices", params={"tenant_id": new_tenant, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = listing(status="overdue", limit=1)
    assert [i["id"] for i in first["items"]] == [ids[0]] and first["next_cursor"] == first["items"][0]["number"]
    second = listing(status="overdue", limit=1, cursor=first["next_cursor"])
    assert [i["id"] for i in second["items"]] == [ids[2]]  # February, paid, is read past
    assert listing(status="overdue", limit=1, cursor=second["next_cursor"])["items"] == []
    assert [i["id"] for i in listing(status="paid")["items"]] == [ids[1]]
    assert [i["status"] for i in listing(status="")["items"]] == ["overdue", "paid", "overdue"]


def test_an_unknown_status_is_a_422_naming_it(operator_client):
    answer = operator_client.get("/v1/invoices", params={"status": "late"})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "status"
