"""Market rents and the breach-risk report on real servers (SPEC §16): the SPEC's worked example,
formats, the crossing into risk noticed once, and who may read and write."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest
from sqlalchemy import text

from billing.services import catalog as catalog_service
from billing.services import contracts as contracts_service
from billing.services import risk
from kashi import streams

AS_OF = "2027-01-01T00:00:00+08:00"


def client(kashi, role, **scope):
    return httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key(role, **scope)}"}
    )


@pytest.fixture
def model(kashi, uid):
    """A GPU model of this test's own (market rents are per model, shared by every contract on it)."""
    name = f"RTX-4090-{uid}"
    with kashi.engine.begin() as conn:
        catalog_service.add(
            conn, {"name": name, "fp16_tflops": "165.2", "source": "test copy of RTX-4090"}, actor="test"
        )
    return name


@pytest.fixture
def contract_id(kashi, uid, new_tenant, model):
    """SPEC §6's market contract on the test's model: 60 × 5,000, start 2026-01-01, 36 closed, rate 0.20."""
    contract_id = f"c-{uid}"
    document = {
        "id": contract_id,
        "tenant_id": new_tenant,
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": "2026-01-01T00:00:00+08:00",
        "closed_months": 36,
        "open_months": 24,
        "notice_days": 30,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
        "items": [
            {
                "id": "i-1",
                "pricing": "machine_month",
                "gpu_model": model,
                "cards_per_machine": 8,
                "machines": 60,
                "unit_price": "5000.00",
            }
        ],
    }
    with kashi.engine.begin() as conn:
        contracts_service.sign(conn, document, actor="test")
    return contract_id


def rent(model, price, observed_at="2026-12-15T00:00:00+08:00", **extra):
    return {
        "gpu_model": model,
        "unit": "machine_month",
        "price": price,
        "currency": "CNY",
        "observed_at": observed_at,
        "source": "test quote",
        **extra,
    }


def row_of(answer, contract_id):
    assert answer.status_code == 200, answer.text
    return next(item for item in answer.json()["items"] if item["contract_id"] == contract_id)


def test_spec_example_twenty_then_thirty_percent_below(kashi, model, contract_id):
    with client(kashi, "operator") as operator:
        assert operator.post("/v1/market/rents", json=rent(model, "4000.00")).status_code == 201
        row = row_of(operator.get("/v1/reports/breach-risk", params={"as_of": AS_OF}), contract_id)
        assert (
            row["remaining_closed_value"],
            row["drop"],
            row["penalty"],
            row["saving_if_broken"],
            row["at_risk"],
        ) == ("7200000.00", "0.20", "1440000.00", "0.00", False)
        later = rent(model, "3500.00", "2026-12-20T00:00:00+08:00")
        assert operator.post("/v1/market/rents", json=later).status_code == 201
        row = row_of(operator.get("/v1/reports/breach-risk", params={"as_of": AS_OF}), contract_id)
        assert (row["drop"], row["saving_if_broken"], row["at_risk"], row["break_even_rate"]) == (
            "0.30",
            "720000.00",
            True,
            "0.30",
        )
        quote = operator.get(f"/v1/contracts/{contract_id}/termination-quote", params={"effective_at": AS_OF}).json()
        assert row["penalty"] == quote["amount"]
        # Before the later observation, the market was the earlier one.
        earlier = row_of(
            operator.get("/v1/reports/breach-risk", params={"as_of": "2026-12-18T00:00:00+08:00"}), contract_id
        )
        assert earlier["drop"] == "0.20"


def test_before_any_rent_the_row_says_the_market_is_missing(kashi, model, contract_id):
    with client(kashi, "finance") as finance:
        row = row_of(finance.get("/v1/reports/breach-risk", params={"as_of": AS_OF}), contract_id)
    assert row["drop"] is None and row["saving_if_broken"] is None and row["at_risk"] is False
    assert model in row["missing_market"][0]


def test_csv_and_xlsx(kashi, model, contract_id):
    with client(kashi, "finance") as finance:
        csv = finance.get("/v1/reports/breach-risk", params={"as_of": AS_OF, "format": "csv"})
        xlsx = finance.get("/v1/reports/breach-risk", params={"as_of": AS_OF, "format": "xlsx"})
        bad = finance.get("/v1/reports/breach-risk", params={"as_of": AS_OF, "format": "pdf"})
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf") and contract_id in csv.text
    assert csv.text.splitlines()[0].lstrip("\ufeff").startswith("contract_id,tenant_id,currency,term")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert bad.status_code == 422


def test_a_contract_crossing_into_risk_is_recorded_once(kashi, model, contract_id):
    with client(kashi, "operator") as operator:
        first = operator.post("/v1/market/rents", json=rent(model, "3000.00", "2026-11-01T00:00:00+08:00"))
        assert first.status_code == 201, first.text
        assert contract_id in first.json()["at_risk"]  # at risk now (2026-12): market 40% below, penalty 20%
        again = operator.post("/v1/market/rents", json=rent(model, "2900.00", "2026-11-02T00:00:00+08:00"))
        assert contract_id not in again.json()["at_risk"]
    with kashi.engine.begin() as conn:
        assert contract_id not in [r["contract_id"] for r in risk.evaluate(conn, datetime.fromisoformat(AS_OF))]
        events = streams.load(conn, f"risk:{contract_id}")
        assert [e.type for e in events] == ["ContractAtRisk"]
        assert contract_id in [r["contract_id"] for r in risk.at_risk(conn)]
        sent = conn.execute(
            text(
                "SELECT body FROM webhook_events WHERE type = 'contract.at_risk'"
                " AND (body::jsonb -> 'data' ->> 'contract_id') = :c"
            ),
            {"c": contract_id},
        ).scalars()
        (event,) = [json.loads(body) for body in sent]  # one webhook for the one crossing (SPEC §13, §16)
        assert (
            event["data"]["at_risk"] is True and event["data"]["saving_if_broken"] == events[0].data["saving_if_broken"]
        )
    with client(kashi, "operator") as operator:  # the market recovers: the contract leaves the list
        operator.post("/v1/market/rents", json=rent(model, "6000.00", "2026-11-03T00:00:00+08:00"))
    with kashi.engine.begin() as conn:
        assert [e.type for e in streams.load(conn, f"risk:{contract_id}")] == ["ContractAtRisk", "ContractRiskCleared"]


def test_bad_rents_are_422_naming_each_field(kashi, model):
    with client(kashi, "operator") as operator:
        answer = operator.post("/v1/market/rents", json={**rent(model, 4800.0), "colour": "red", "unit": "hour"})
        assert answer.status_code == 422
        fields = {d["field"] for d in answer.json()["error"]["details"]}
        assert {"price", "colour", "unit"} <= fields
        unknown = operator.post("/v1/market/rents", json=rent("NoSuchGPU", "1.00"))
        assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "gpu_model"
        missing = operator.post("/v1/market/rents", json={"gpu_model": model})
        assert missing.status_code == 422


def test_rents_are_listed_by_model_newest_first(kashi, model):
    with client(kashi, "operator") as operator:
        operator.post("/v1/market/rents", json=rent(model, "5500.00", "2026-10-01T00:00:00+08:00"))
        operator.post("/v1/market/rents", json=rent(model, "1.10", "2026-11-01T00:00:00+08:00", unit="card_hour"))
        listed = operator.get("/v1/market/rents", params={"gpu_model": model}).json()["items"]
    assert [(r["unit"], r["price"]) for r in listed] == [("card_hour", "1.10"), ("machine_month", "5500.00")]


def test_finance_reads_tenants_may_not(kashi, model, new_tenant):
    with client(kashi, "tenant", tenant=new_tenant) as tenant, client(kashi, "finance") as finance:
        assert tenant.get("/v1/reports/breach-risk").status_code == 403
        assert tenant.get("/v1/market/rents").status_code == 403
        assert tenant.post("/v1/market/rents", json=rent(model, "1.00")).status_code == 403
        assert finance.post("/v1/market/rents", json=rent(model, "1.00")).status_code == 403
        assert finance.get("/v1/reports/breach-risk").status_code == 200
        assert finance.get("/v1/reports/breach-risk", params={"as_of": "soon"}).status_code == 422


def test_open_term_contract_shows_its_notice_cost_and_is_not_at_risk(kashi, uid, new_tenant, model):
    # 12 closed + 12 open months from 2026-01-01: on 2027-01-01 it is in its open term; 30 days' notice
    # from then runs to 2027-01-31, 30/31 of January's 300,000 = 290,322.58.
    contract_id = f"c-open-{uid}"
    with kashi.engine.begin() as conn:
        contracts_service.sign(
            conn,
            {
                "id": contract_id,
                "tenant_id": new_tenant,
                "start": "2026-01-01",
                "closed_months": 12,
                "open_months": 12,
                "notice_days": 30,
                "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
                "items": [
                    {
                        "id": "i-1",
                        "pricing": "machine_month",
                        "gpu_model": model,
                        "machines": 60,
                        "unit_price": "5000.00",
                    }
                ],
            },
            actor="test",
        )
    with client(kashi, "operator") as operator:
        operator.post("/v1/market/rents", json=rent(model, "2000.00"))
        row = row_of(operator.get("/v1/reports/breach-risk", params={"as_of": AS_OF}), contract_id)
    assert (row["term"], row["at_risk"], row["penalty"], row["saving_if_broken"]) == ("open", False, "0.00", None)
    assert row["notice_cost"] == "290322.58" and row["drop"] == "0.60" and "notice" in row["note"]
