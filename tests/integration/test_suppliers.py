"""Suppliers, payable contracts, supplier bills, resale and the margin report on real servers (SPEC §17)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from billing.core.periods import Period
from billing.services import catalog as catalog_service
from billing.services import contracts as contracts_service
from billing.services import supplier_bills
from billing.services import tenants as tenants_service
from billing.services.close import close_tenant
from billing.store.numbering import parse_number

LATER = datetime(2026, 12, 1, tzinfo=UTC)


def client(kashi, role, **scope):
    return httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key(role, **scope)}"}
    )


def machines(model, count, price, **extra):
    return {
        "id": "i-1",
        "pricing": "machine_month",
        "gpu_model": model,
        "cards_per_machine": 8,
        "machines": count,
        "unit_price": price,
        **extra,
    }


def terms(start="2025-01-01T00:00:00+08:00", closed=36, opened=0):
    return {
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": start,
        "closed_months": closed,
        "open_months": opened,
        "notice_days": 30,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
    }


@pytest.fixture
def broker(kashi, uid):
    """A model of its own, a supplier, and a payable contract: 60 × 8-card machines at 5,000 for 36
    months closed + 24 open from 2025-01-01. Returns (model, supplier id, payable contract id)."""
    model, supplier_id, payable = f"RTX-4090-{uid}", f"sup-{uid}", f"buy-{uid}"
    with kashi.engine.begin() as conn:
        catalog_service.add(conn, {"name": model, "fp16_tflops": "165.2", "source": "test"}, actor="test")
    with client(kashi, "operator") as operator:
        answer = operator.post(
            "/v1/suppliers",
            json={
                "id": supplier_id,
                "name": "杭州智算中心",
                "legal_name": "杭州智算中心有限公司",
                "tax_id": "91330100MA2XXXXXX1",
                "currency": "CNY",
            },
        )
        assert answer.status_code == 201, answer.text
        signed = operator.post(
            "/v1/contracts",
            json={
                "id": payable,
                "supplier_id": supplier_id,
                **terms(closed=36, opened=24),
                "items": [machines(model, 60, "5000.00")],
            },
        )
        assert signed.status_code == 201, signed.text
        assert signed.json()["supplier_id"] == supplier_id and "tenant_id" not in signed.json()
    return model, supplier_id, payable


def resell(kashi, uid, n, model, payable, count, **overrides):
    tenant_id = f"t-{uid}-{n}"
    with kashi.engine.begin() as conn:
        tenants_service.ensure(conn, tenant_id, name=f"Tenant {n}")
    with client(kashi, "operator") as operator:
        return operator.post(
            "/v1/contracts",
            json={
                "id": f"sell-{uid}-{n}",
                "tenant_id": tenant_id,
                **terms(),
                "items": [machines(model, count, "7200.00", supplied_by=f"{payable}/i-1")],
                **overrides,
            },
        )


def test_supplier_endpoints(kashi, uid, broker, new_tenant):
    _, supplier_id, _ = broker
    with client(kashi, "operator") as operator, client(kashi, "finance") as finance:
        assert operator.post("/v1/suppliers", json={"id": supplier_id}).status_code == 409
        bad = operator.post("/v1/suppliers", json={"id": "x y", "colour": "red", "currency": "yuan"})
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["details"]} >= {"id", "colour", "currency"}
        one = finance.get(f"/v1/suppliers/{supplier_id}").json()
        assert (one["legal_name"], one["currency"], one["timezone"]) == ("杭州智算中心有限公司", "CNY", "Asia/Shanghai")
        assert finance.get(f"/v1/suppliers/nope-{uid}").status_code == 404
        assert supplier_id in [s["id"] for s in finance.get("/v1/suppliers", params={"limit": 1000}).json()["items"]]
        assert finance.post("/v1/suppliers", json={"id": f"f-{uid}"}).status_code == 403
        assert finance.get(f"/v1/supplier-bills/sb_nope{uid}").status_code == 404
        assert finance.get(f"/v1/suppliers/nope-{uid}/statements/2026-01").status_code == 404
        assert finance.get("/v1/supplier-bills", params={"period": "2026-13"}).status_code == 422
        assert finance.get("/v1/supplier-bills", params={"cursor": "nope"}).status_code == 422
        assert (
            finance.get("/v1/exports/supplier-bill-lines", params={"period": "2026-01", "format": "pdf"}).status_code
            == 422
        )
        assert finance.get("/v1/reports/margin", params={"period": "2026-1"}).status_code == 422
        assert finance.get("/v1/reports/margin", params={"period": "2026-01", "format": "pdf"}).status_code == 422
        both = operator.post(
            "/v1/contracts",
            json={
                "id": f"x-{uid}",
                "tenant_id": "a",
                "supplier_id": supplier_id,
                **terms(),
                "items": [machines("RTX-4090", 1, "1.00")],
            },
        )
        assert both.status_code == 422
        unknown = operator.post(
            "/v1/contracts",
            json={
                "id": f"y-{uid}",
                "supplier_id": f"nope-{uid}",
                **terms(),
                "items": [machines("RTX-4090", 1, "1.00")],
            },
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "supplier_id"
        payables = finance.get("/v1/contracts", params={"supplier_id": supplier_id}).json()["items"]
        assert [(c["id"], c["supplier_id"], c["tenant_id"]) for c in payables] == [(broker[2], supplier_id, None)]
    with client(kashi, "tenant", tenant=new_tenant) as tenant:
        assert tenant.get("/v1/suppliers").status_code == 403
        assert tenant.get("/v1/supplier-bills").status_code == 403
        assert tenant.get("/v1/reports/margin", params={"period": "2026-01"}).status_code == 403
        assert tenant.get(f"/v1/contracts/{broker[2]}").status_code == 404


def test_resale_is_checked_against_what_was_bought(kashi, uid, broker):
    model, _, payable = broker
    assert resell(kashi, uid, 1, model, payable, 40).status_code == 201
    too_many = resell(kashi, uid, 2, model, payable, 21)  # 40 + 21 > 60
    assert too_many.status_code == 409, too_many.text
    assert too_many.json()["error"]["details"][0]["field"] == "items[0].supplied_by"
    assert resell(kashi, uid, 3, model, payable, 20).status_code == 201  # exactly the 60 bought
    other = f"A800-{uid}"
    with kashi.engine.begin() as conn:
        catalog_service.add(conn, {"name": other, "fp16_tflops": "312", "source": "test"}, actor="test")
    assert resell(kashi, uid, 4, other, payable, 1).status_code == 409  # another model
    assert resell(kashi, uid, 5, model, f"nope-{uid}", 1).status_code == 409  # no such payable contract
    before = resell(kashi, uid, 6, model, payable, 1, start="2024-12-01T00:00:00+08:00")
    assert before.status_code == 409  # the payable contract is not in force yet
    with client(kashi, "operator") as operator:
        malformed = operator.post(
            "/v1/contracts",
            json={
                "id": f"bad-{uid}",
                "tenant_id": f"t-{uid}-1",
                **terms(),
                "items": [machines(model, 1, "7200.00", supplied_by="x")],
            },
        )
        assert malformed.status_code == 422
        more = operator.post(
            f"/v1/contracts/sell-{uid}-1/amendments",
            json={"item_id": "i-1", "machines": 41, "effective_at": "2026-12-01T00:00:00+08:00"},
        )
        assert more.status_code == 409, more.text  # 41 + 20 > 60
        fewer = operator.post(
            f"/v1/contracts/{payable}/amendments",
            json={"item_id": "i-1", "machines": 50, "effective_at": "2026-12-01T00:00:00+08:00"},
        )
        assert fewer.status_code == 409  # the broker cannot buy back below what it resold


def test_supplier_bills_numbered_in_their_own_gapless_series(kashi, uid, broker):
    model, supplier_id, payable = broker
    second = f"sup2-{uid}"
    with client(kashi, "operator") as operator:
        operator.post("/v1/suppliers", json={"id": second, "name": "Second"})
        operator.post(
            "/v1/contracts",
            json={"id": f"buy2-{uid}", "supplier_id": second, **terms(), "items": [machines(model, 2, "5000.00")]},
        )
    first_ids = supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 1), now=LATER)
    second_ids = supplier_bills.close_supplier(kashi.engine, second, Period(2025, 1), now=LATER)
    assert supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 1), now=LATER) == first_ids
    with client(kashi, "finance") as finance:
        bill = finance.get(f"/v1/supplier-bills/{first_ids[0]}").json()
        other = finance.get(f"/v1/supplier-bills/{second_ids[0]}").json()
        listed = finance.get("/v1/supplier-bills", params={"supplier_id": supplier_id, "period": "2025-01"}).json()
    assert bill["number"].startswith("KP-2026-") and bill["supplier_id"] == supplier_id
    assert parse_number(other["number"])[3] == parse_number(bill["number"])[3] + 1  # gapless, its own series
    assert [(line["kind"], line["amount"], line["tax"]) for line in bill["lines"]] == [
        ("machine_month", "300000.00", "18000.00")
    ]
    assert (bill["subtotal"], bill["tax"], bill["total"]) == ("300000.00", "18000.00", "318000.00")
    assert [b["id"] for b in listed["items"]] == first_ids
    # Invoices keep numbering in KS- untouched by KP- bills.
    tenant_id = f"t-{uid}-ks"
    with kashi.engine.begin() as conn:
        tenants_service.ensure(conn, tenant_id)
        last_ks = conn.execute(text("SELECT max(number) FROM invoices WHERE number LIKE 'KS-2026-%'")).scalar()
        contracts_service.sign(
            conn,
            {"id": f"c-{uid}-ks", "tenant_id": tenant_id, **terms(), "items": [machines(model, 1, "7200.00")]},
            actor="test",
        )
    invoice_id = close_tenant(kashi.engine, tenant_id, Period(2025, 1), now=LATER)[0]
    with kashi.engine.connect() as conn:
        number = conn.execute(text("SELECT number FROM invoices WHERE id = :i"), {"i": invoice_id}).scalar()
    assert number.startswith("KS-2026-")
    assert parse_number(number)[3] == (parse_number(last_ks)[3] if last_ks else 0) + 1


def test_supplier_statement_and_bill_line_export(kashi, uid, broker):
    _, supplier_id, _ = broker
    january = supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 1), now=LATER)
    february = supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 2), now=LATER)
    with client(kashi, "finance") as finance:
        statement = finance.get(f"/v1/suppliers/{supplier_id}/statements/2025-02").json()
        csv = finance.get("/v1/exports/supplier-bill-lines", params={"period": "2025-02", "format": "csv"})
        xlsx = finance.get("/v1/exports/supplier-bill-lines", params={"period": "2025-02", "format": "xlsx"})
        statement_csv = finance.get(f"/v1/suppliers/{supplier_id}/statements/2025-02", params={"format": "csv"})
    page = statement["currencies"][0]
    assert (page["opening_balance"], page["billed"], page["closing_balance"]) == ("318000.00", "318000.00", "636000.00")
    assert [b["id"] for b in page["bills"]] == february and january != february
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert page["bills"][0]["number"] in csv.text and "300000.00" in csv.text
    assert xlsx.content[:2] == b"PK" and statement_csv.status_code == 200


def test_margin_and_exposure_when_a_tenant_left_with_penalty_and_the_supplier_runs_on(kashi, uid, broker):
    """60 bought at 5,000 (36 closed from 2025-01); resold 20 + 20 + 20 at 7,200 (36 closed). Tenant 3
    terminates effective 2026-01-01: penalty 0.20 × 24 × 144,000 = 691,200.00 on January 2026.
    January 2026: cost 300,000; revenue 144,000 + 144,000 + 691,200 = 979,200; margin 679,200 (0.6936).
    As of 2026-02-01, 23 closed months remain: owed 23 × 300,000 = 6,900,000; covered 2 × 23 × 144,000
    = 6,624,000 → exposure 276,000.00; machines bought 60, resold 40."""
    model, supplier_id, payable = broker
    for n in (1, 2, 3):
        assert resell(kashi, uid, n, model, payable, 20).status_code == 201
    with client(kashi, "operator") as operator:
        ended = operator.post(
            f"/v1/contracts/sell-{uid}-3/termination", json={"effective_at": "2026-01-01T00:00:00+08:00"}
        )
        assert ended.status_code == 201, ended.text
        assert ended.json()["amount"] == "691200.00"
    with client(kashi, "finance") as finance:
        report = finance.get("/v1/reports/margin", params={"period": "2026-01"})
        csv = finance.get("/v1/reports/margin", params={"period": "2026-01", "format": "csv"})
    assert report.status_code == 200, report.text
    row = next(r for r in report.json()["items"] if r["contract_id"] == payable)
    assert (row["cost"], row["revenue"], row["margin"], row["margin_rate"]) == (
        "300000.00",
        "979200.00",
        "679200.00",
        "0.6936",
    )
    assert (row["machines_bought"], row["machines_resold"], row["exposure"]) == ("60", "40", "276000.00")
    assert sorted(row["supplies"]) == [f"sell-{uid}-{n}/i-1" for n in (1, 2, 3)]
    assert csv.status_code == 200 and payable in csv.text


def test_close_of_all_closes_suppliers_and_replay_reproduces_their_bills(kashi, uid, broker):
    from billing.services.replay import verify_all

    _, supplier_id, _ = broker
    with client(kashi, "operator") as operator:
        answer = operator.post("/v1/periods/2025-03/close")
    assert answer.status_code == 200, answer.text
    bills = answer.json()["supplier_bills"]
    with kashi.engine.connect() as conn:
        mine = (
            conn.execute(
                text("SELECT id FROM supplier_bills WHERE supplier_id = :s AND period = '2025-03'"), {"s": supplier_id}
            )
            .scalars()
            .all()
        )
    assert mine and set(mine) <= set(bills)
    assert [d for d in verify_all(kashi.engine) if "supplier" in d or "market" in d or "risk" in d] == []


def test_scheduler_closes_suppliers_after_grace_and_evaluates_risk(kashi, uid, broker):
    from datetime import timedelta

    from workers.scheduler import evaluate_risk, run_suppliers_once

    _, supplier_id, _ = broker
    enqueued = []
    grace = timedelta(hours=24)
    early = datetime(2025, 2, 1, 15, tzinfo=UTC)  # January ended 2025-01-31T16:00Z in Shanghai; grace not over
    run_suppliers_once(kashi.engine, lambda s, p: enqueued.append((s, p)), now=early, grace=grace)
    assert (supplier_id, Period(2025, 1)) not in enqueued
    due = datetime(2025, 2, 1, 17, tzinfo=UTC)
    run_suppliers_once(kashi.engine, lambda s, p: enqueued.append((s, p)), now=due, grace=grace)
    assert (supplier_id, Period(2025, 1)) in enqueued
    supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 1), now=due)
    again = []
    run_suppliers_once(kashi.engine, lambda s, p: again.append((s, p)), now=due, grace=grace)
    assert (supplier_id, Period(2025, 1)) not in again
    assert isinstance(evaluate_risk(kashi.engine, due), list)


def test_a_broker_breaking_its_payable_contract_is_billed_the_penalty(kashi, uid, broker):
    """The broker itself breaks: effective 2026-01-01, 24 closed months remain of 300,000 → penalty
    0.20 × 7,200,000 = 1,440,000.00 on the supplier's January 2026 bill; December 2025 is closed, so a
    termination inside it is refused (409)."""
    _, supplier_id, payable = broker
    supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2025, 12), now=LATER)
    with client(kashi, "operator") as operator:
        refused = operator.post(
            f"/v1/contracts/{payable}/termination", json={"effective_at": "2025-12-15T00:00:00+08:00"}
        )
        assert refused.status_code == 409
        quote = operator.get(
            f"/v1/contracts/{payable}/termination-quote", params={"effective_at": "2026-01-01T00:00:00+08:00"}
        ).json()
        ended = operator.post(
            f"/v1/contracts/{payable}/termination", json={"effective_at": "2026-01-01T00:00:00+08:00"}
        )
        assert ended.status_code == 201, ended.text
    assert quote["amount"] == ended.json()["amount"] == "1440000.00"
    ids = supplier_bills.close_supplier(kashi.engine, supplier_id, Period(2026, 1), now=LATER)
    with kashi.engine.connect() as conn:
        bill = supplier_bills.bill_json(conn, ids[0])
    assert [(line["kind"], line["amount"]) for line in bill["lines"]] == [("penalty", "1440000.00")]
