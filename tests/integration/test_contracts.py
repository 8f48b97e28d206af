"""Contracts on real servers: sign, read, amend, terminate, quote, access (SPEC §4, §6, §9, §10)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from billing.services import contracts as contracts_service
from kashi.errors import PeriodAlreadyClosed, VersionConflict


def market_contract(contract_id, tenant, **overrides):
    """SPEC §6's worked example: 60 machines of 8×RTX-4090 at 5,000 CNY/month, 36 months closed."""
    return {
        "id": contract_id,
        "tenant_id": tenant,
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
                "gpu_model": "RTX-4090",
                "cards_per_machine": 8,
                "machines": 60,
                "unit_price": "5000.00",
            }
        ],
        **overrides,
    }


def client(kashi, role, **scope):
    return httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key(role, **scope)}"}
    )


@pytest.fixture
def signed(kashi, uid, new_tenant):
    """The market contract, signed through the service (committed before the test starts); its id."""
    contract_id = f"c-{uid}"
    with kashi.engine.begin() as conn:
        contracts_service.sign(conn, market_contract(contract_id, new_tenant), actor="test")
    return contract_id


def fields(answer) -> set[str]:
    return {detail["field"] for detail in answer.json()["error"]["details"]}


def test_sign_then_get_then_events(operator_client, uid, new_tenant):
    contract_id = f"c-{uid}"
    signed = operator_client.post("/v1/contracts", json=market_contract(contract_id, new_tenant))
    assert signed.status_code == 201, signed.text
    got = operator_client.get(f"/v1/contracts/{contract_id}", params={"at": "2026-06-01"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["id"], body["tenant_id"], body["version"]) == (contract_id, new_tenant, 1)
    assert body["status"] == "closed_term"
    assert body["items"][0]["unit_price"] == "5000.00"
    assert body["rmv"] == "300000.00"
    assert (body["closed_end"], body["term_end"]) == ("2028-12-31T16:00:00Z", "2030-12-31T16:00:00Z")
    assert got.headers["ETag"] == '"1"'
    stream = operator_client.get(f"/v1/contracts/{contract_id}/events").json()["items"]
    assert [(e["type"], e["version"]) for e in stream] == [("ContractSigned", 1)]
    assert stream[0]["actor"].startswith("key:")
    assert stream[0]["recorded_at"].endswith("Z")
    assert stream[0]["data"]["items"][0]["machines"] == 60


def test_signing_an_existing_id_is_a_conflict(operator_client, signed, new_tenant):
    again = operator_client.post("/v1/contracts", json=market_contract(signed, new_tenant))
    assert again.status_code == 409
    assert fields(again) == {"id"}


def test_validation_names_every_bad_field(operator_client, uid, new_tenant):
    payload = market_contract(
        f"c-{uid}",
        new_tenant,
        currency="XX1",
        items=[
            {"id": "i-1", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 60, "unit_price": 5000.5},
            {"id": "i-2", "pricing": "gpu_hour", "gpu_model": "NO-SUCH-GPU", "unit_price": "12.50"},
            {"id": "i-3", "pricing": "machine_month", "gpu_model": "A800", "machines": -1, "unit_price": "70000"},
        ],
    )
    answer = operator_client.post("/v1/contracts", json=payload)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_failed"
    assert fields(answer) == {"currency", "items[0].unit_price", "items[1].gpu_model", "items[2].machines"}


def test_unknown_tenant_is_named_on_tenant_id(operator_client, uid):
    answer = operator_client.post("/v1/contracts", json=market_contract(f"c-{uid}", f"nobody-{uid}"))
    assert answer.status_code == 422
    assert fields(answer) == {"tenant_id"}


def test_market_example_quote_then_termination_give_the_same_penalty(operator_client, signed):
    at = {"effective_at": "2027-01-01T00:00:00+08:00"}
    quote = operator_client.get(f"/v1/contracts/{signed}/termination-quote", params=at)
    assert quote.status_code == 200, quote.text
    q = quote.json()
    assert (q["in_closed_term"], q["remaining_closed_value"]) == (True, "7200000.00")
    assert [(line["kind"], line["amount"], line["tax"]) for line in q["lines"]] == [
        ("penalty", "1440000.00", "86400.00")
    ]
    assert (q["amount"], q["tax"], q["total"]) == ("1440000.00", "86400.00", "1526400.00")
    assert operator_client.get(f"/v1/contracts/{signed}").json()["version"] == 1  # a quote changes nothing

    done = operator_client.post(f"/v1/contracts/{signed}/termination", json=at)
    assert done.status_code == 201, done.text
    assert done.json()["lines"] == q["lines"]
    assert done.json()["version"] == 2
    after = operator_client.get(f"/v1/contracts/{signed}", params={"at": "2027-02-01"}).json()
    assert (after["status"], after["terminated_at"]) == ("terminated", "2026-12-31T16:00:00Z")
    again = operator_client.post(f"/v1/contracts/{signed}/termination", json=at)
    assert again.status_code == 409


def test_open_term_termination_charges_notice_in_lieu(operator_client, uid, new_tenant):
    contract_id = f"c-{uid}"
    payload = market_contract(
        contract_id,
        new_tenant,
        closed_months=1,
        open_months=12,
        notice_days=30,
        items=[
            {"id": "i-1", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 1, "unit_price": "3100.00"}
        ],
    )
    operator_client.post("/v1/contracts", json=payload).raise_for_status()
    body = {"effective_at": "2026-03-01T00:00:00+08:00", "notice_given_at": "2026-03-01T00:00:00+08:00"}
    quote = operator_client.get(f"/v1/contracts/{contract_id}/termination-quote", params=body).json()
    done = operator_client.post(f"/v1/contracts/{contract_id}/termination", json=body)
    assert done.status_code == 201, done.text
    # 30 days of March (31 days) at 3,100/month: 3,000.00.
    assert [(line["kind"], line["amount"], line["tax"]) for line in done.json()["lines"]] == [
        ("notice_in_lieu", "3000.00", "180.00")
    ]
    assert done.json()["lines"] == quote["lines"]
    assert quote["in_closed_term"] is False


def test_reducing_machines_inside_the_closed_term_carries_a_penalty(operator_client, signed):
    answer = operator_client.post(
        f"/v1/contracts/{signed}/amendments",
        json={"item_id": "i-1", "machines": 40, "effective_at": "2027-01-01T00:00:00+08:00"},
    )
    assert answer.status_code == 201, answer.text
    # 20 machines removed × 5,000 × 24 remaining closed months = 2,400,000; 20% of it.
    assert [(line["kind"], line["item_id"], line["amount"], line["tax"]) for line in answer.json()["lines"]] == [
        ("penalty", "i-1", "480000.00", "28800.00")
    ]
    assert answer.json()["version"] == 2
    later = operator_client.get(f"/v1/contracts/{signed}", params={"at": "2027-02-01"}).json()
    assert (later["items"][0]["machines"], later["rmv"]) == (40, "200000.00")
    increase = operator_client.post(
        f"/v1/contracts/{signed}/amendments", json={"item_id": "i-1", "machines": 50, "effective_at": "2027-03-01"}
    )
    assert increase.status_code == 201, increase.text
    assert increase.json()["lines"] == []
    events = operator_client.get(f"/v1/contracts/{signed}/events").json()["items"]
    assert [e["type"] for e in events] == ["ContractSigned", "ContractAmended", "ContractAmended"]


def test_amendment_errors_name_their_fields(operator_client, signed):
    answer = operator_client.post(
        f"/v1/contracts/{signed}/amendments", json={"item_id": "i-9", "machines": 4, "effective_at": "2027-01-01"}
    )
    assert (answer.status_code, fields(answer)) == (422, {"item_id"})
    answer = operator_client.post(
        f"/v1/contracts/{signed}/amendments", json={"item_id": "i-1", "machines": 4.5, "effective_at": "later"}
    )
    assert (answer.status_code, fields(answer)) == (422, {"machines", "effective_at"})


def test_two_concurrent_amendments_of_one_version_one_conflicts(kashi, operator_client, signed):
    barrier = threading.Barrier(2)
    answers = []

    def amend(machines):
        with client(kashi, "operator") as http:
            barrier.wait()
            answers.append(
                http.post(
                    f"/v1/contracts/{signed}/amendments",
                    headers={"If-Match": '"1"'},
                    json={"item_id": "i-1", "machines": machines, "effective_at": "2027-06-01"},
                )
            )

    threads = [threading.Thread(target=amend, args=(m,)) for m in (70, 80)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert [a.json()["error"]["code"] for a in answers if a.status_code == 409] == ["version_conflict"]
    assert operator_client.get(f"/v1/contracts/{signed}").json()["version"] == 2


def test_a_writer_that_read_a_stale_version_loses_to_the_stream_lock(kashi, signed):
    """Two transactions read version 1; the second's append waits on the first and then fails."""
    body = {"item_id": "i-1", "machines": 70, "effective_at": "2027-06-01"}
    first = kashi.engine.connect()
    first.begin()
    contracts_service.amend(first, signed, body, actor="test:first")
    outcome = []

    def second():
        with kashi.engine.begin() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            outcome.append(pid)
            try:
                contracts_service.amend(conn, signed, {**body, "machines": 80}, actor="test:second")
                outcome.append("amended")
            except VersionConflict:
                outcome.append("version_conflict")

    thread = threading.Thread(target=second)
    thread.start()
    with kashi.engine.connect() as probe:  # commit only once the second writer waits on the row lock
        for _ in range(600):
            waiting = (
                len(outcome) == 1
                and probe.execute(
                    text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"), {"p": outcome[0]}
                ).scalar()
            )
            if waiting:
                break
            threading.Event().wait(0.05)
    first.commit()
    first.close()
    thread.join()
    assert outcome[1:] == ["version_conflict"]


def test_a_change_inside_a_closed_period_is_refused(kashi, signed, new_tenant):
    with kashi.engine.connect() as conn, conn.begin() as tx:
        # A temporary table shadows period_closes for this session only, with or without migration 0003.
        conn.execute(text("CREATE TEMP TABLE period_closes (tenant_id text, period text, closed_at timestamptz)"))
        conn.execute(text("INSERT INTO period_closes VALUES (:t, '2027-01', now())"), {"t": new_tenant})
        with pytest.raises(PeriodAlreadyClosed):
            contracts_service.terminate(conn, signed, {"effective_at": "2027-01-15"}, actor="test")
        with pytest.raises(PeriodAlreadyClosed):  # nor quoted: the quote shows what POST would charge
            contracts_service.termination_quote_json(conn, signed, "2027-01-15")
        assert contracts_service.termination_quote_json(conn, signed, "2027-02-15")["in_closed_term"] is True
        with pytest.raises(PeriodAlreadyClosed):
            contracts_service.assert_not_in_closed_period(conn, new_tenant, datetime(2026, 12, 1, tzinfo=UTC))
        contracts_service.assert_not_in_closed_period(conn, new_tenant, datetime(2027, 2, 1, tzinfo=UTC))
        tx.rollback()


def test_finance_reads_but_cannot_change(kashi, signed):
    with client(kashi, "finance") as finance:
        assert finance.get(f"/v1/contracts/{signed}").status_code == 200
        assert finance.get(f"/v1/contracts/{signed}/events").status_code == 200
        refused = finance.post(f"/v1/contracts/{signed}/termination", json={"effective_at": "2027-01-01"})
        assert refused.status_code == 403
        assert finance.post("/v1/contracts", json={}).status_code == 403


def test_tenant_sees_its_own_contract_only(kashi, operator_client, uid, signed, new_tenant):
    other = f"t-other-{uid}"
    operator_client.post("/v1/tenants", json={"id": other}).raise_for_status()
    with client(kashi, "tenant", tenant=new_tenant) as own, client(kashi, "tenant", tenant=other) as stranger:
        assert own.get(f"/v1/contracts/{signed}").status_code == 200
        assert [c["id"] for c in own.get("/v1/contracts").json()["items"]] == [signed]
        hidden = stranger.get(f"/v1/contracts/{signed}")
        assert hidden.status_code == 404
        assert new_tenant not in hidden.text
        assert stranger.get(f"/v1/contracts/{signed}/events").status_code == 404
        assert stranger.get("/v1/contracts").json()["items"] == []
        assert own.post(f"/v1/contracts/{signed}/amendments", json={}).status_code == 403


def test_agent_keys_see_nothing(kashi, uid, signed):
    with client(kashi, "agent", source=f"node/{uid}") as agent:
        assert agent.get(f"/v1/contracts/{signed}").status_code == 403
        assert agent.post("/v1/contracts", json={}).status_code == 403


def test_projection_is_rebuilt_from_the_streams(kashi, operator_client, signed):
    operator_client.post(
        f"/v1/contracts/{signed}/amendments", json={"item_id": "i-1", "machines": 61, "effective_at": "2027-01-01"}
    ).raise_for_status()
    with kashi.engine.connect() as conn, conn.begin() as tx:
        before = conn.execute(text("SELECT version, state FROM contracts WHERE id = :c"), {"c": signed}).one()
        assert contracts_service.rebuild_projection(conn) >= 1
        after = conn.execute(text("SELECT version, state FROM contracts WHERE id = :c"), {"c": signed}).one()
        tx.rollback()
    assert tuple(after) == tuple(before)
    assert before.version == 2


def test_quote_accepts_an_offset_whose_plus_arrived_unencoded(kashi, operator_client, uid, new_tenant):
    import httpx

    body = {
        "id": f"c-q-{uid}",
        "tenant_id": new_tenant,
        "start": "2026-01-01T00:00:00+08:00",
        "closed_months": 36,
        "open_months": 0,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
        "items": [
            {
                "id": "i-1",
                "pricing": "machine_month",
                "gpu_model": "RTX-4090",
                "cards_per_machine": 8,
                "machines": 60,
                "unit_price": "5000.00",
            }
        ],
    }
    assert operator_client.post("/v1/contracts", json=body).status_code == 201
    url = f"{kashi.base_url}/v1/contracts/c-q-{uid}/termination-quote?effective_at=2027-01-01T00:00:00+08:00"
    answer = httpx.get(url, headers=operator_client.headers)
    assert answer.status_code == 200, answer.text
    assert [line["amount"] for line in answer.json()["lines"]] == ["1440000.00"]


def test_a_body_that_is_not_json_names_the_body(operator_client):
    answer = operator_client.post("/v1/contracts", content=b'{"id": ', headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    (detail,) = answer.json()["error"]["details"]
    assert detail["field"] == "body" and detail["reason"].startswith("not valid JSON")
