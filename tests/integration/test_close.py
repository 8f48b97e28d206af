"""Month close on real servers (SPEC §7, issue 5): exactly once, gapless, late usage adjusted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from billing.core.periods import Period
from billing.core.terms import ensure_period_open
from billing.services import tenants
from billing.services.close import close_period, close_tenant
from billing.store.closes import closed_periods
from billing.store.numbering import parse_number
from kashi.errors import Conflict, PeriodAlreadyClosed
from tests.integration.billing_scenario import contract, gpu_event, send, sign, token_event

SEPT, OCT = Period(2026, 9), Period(2026, 10)
H100 = {
    "id": "i-h",
    "pricing": "gpu_hour",
    "gpu_model": "H100-SXM",
    "unit_price": "12.50",
    "committed_card_hours": "100",
}
TOKENS = {
    "id": "i-t",
    "pricing": "token",
    "model": "qwen2.5-72b",
    "input_price": "2.00",
    "output_price": "8.00",
    "cached_input_price": "0.50",
}
MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 2,
    "unit_price": "7200.00",
}


def _lines(operator_client, invoice_id):
    answer = operator_client.get(f"/v1/invoices/{invoice_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_eight_concurrent_closes_issue_one_invoice_per_tenant_and_currency(kashi, uid, operator_client):
    tenant_ids = [f"t-{uid}-{n}" for n in range(3)]
    with kashi.engine.begin() as conn:
        for tenant_id in tenant_ids:
            tenants.create(conn, {"id": tenant_id, "name": f"租户 {tenant_id}"}, actor="test")
    for n, tenant_id in enumerate(tenant_ids):
        sign(kashi, contract(f"c-{uid}-{n}", tenant_id, MACHINES))
        sign(kashi, contract(f"c-{uid}-{n}-usd", tenant_id, {**MACHINES, "unit_price": "1000.00"}, currency="USD"))

    def close(_):
        return [operator_client.post(f"/v1/periods/2026-09/close?tenant_id={t}").json()["invoices"] for t in tenant_ids]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(close, range(8)))
    assert all(result == results[0] for result in results)
    with kashi.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tenant_id, currency, number, total FROM invoices WHERE tenant_id = ANY(:t)"), {"t": tenant_ids}
        ).all()
        numbers = conn.execute(text("SELECT number, currency FROM invoices")).all()
    assert sorted((r.tenant_id, r.currency) for r in rows) == sorted((t, c) for t in tenant_ids for c in ("CNY", "USD"))
    assert {str(r.total) for r in rows if r.currency == "CNY"} == {"15264.00"}  # 2 × 7200 + 6 % tax
    for currency in ("CNY", "USD"):
        sequence = sorted(parse_number(n)[3] for n, c in numbers if c == currency)
        assert sequence == list(range(1, len(sequence) + 1)), f"{currency} numbers have a gap"


def test_late_usage_is_adjusted_on_the_next_invoice_with_its_own_period(kashi, uid, operator_client, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, H100, TOKENS))
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 1, new_tenant, "2026-09-10T00:00:00+08:00", "2026-09-10T10:00:00+08:00"),
            token_event(uid, 2, new_tenant, "2026-09-12T10:00:00+08:00"),
        ],
    )
    (sept,) = close_tenant(kashi.engine, new_tenant, SEPT)
    september = _lines(operator_client, sept)
    assert [(line["kind"], line["amount"]) for line in september["lines"]] == [
        ("gpu_hour", "125.00"),
        ("gpu_hour_shortfall", "1125.00"),
        ("token", "6.00"),  # one line per token item: 2.00 input + 4.00 output, rounded once
    ]
    # Late: 5 more H100 hours of September (already paid as shortfall) and September tokens.
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 3, new_tenant, "2026-09-20T00:00:00+08:00", "2026-09-20T05:00:00+08:00"),
            token_event(uid, 4, new_tenant, "2026-09-30T23:00:00+08:00"),
            gpu_event(uid, 5, new_tenant, "2026-10-05T00:00:00+08:00", "2026-10-05T20:00:00+08:00"),
        ],
    )
    assert close_tenant(kashi.engine, new_tenant, SEPT) == [sept]
    (oct_,) = close_tenant(kashi.engine, new_tenant, OCT)
    october = _lines(operator_client, oct_)
    kinds = [(line["kind"], line["item_id"], line["amount"], line["period_start"]) for line in october["lines"]]
    assert kinds == [
        ("gpu_hour", "i-h", "250.00", "2026-09-30T16:00:00Z"),
        ("gpu_hour_shortfall", "i-h", "1000.00", "2026-09-30T16:00:00Z"),
        ("adjustment", "i-t", "6.00", "2026-08-31T16:00:00Z"),  # the late tokens; the late hours net to zero
    ]
    adjustment = october["lines"][-1]
    assert adjustment["period_start"] == "2026-08-31T16:00:00Z" and adjustment["period_end"] == "2026-09-30T16:00:00Z"
    assert "2026-09" in adjustment["description"]
    assert october["subtotal"] == "1256.00" and october["tax"] == "75.36" and october["total"] == "1331.36"
    # Nothing more arrived: a close of November later adjusts nothing again.
    assert close_tenant(kashi.engine, new_tenant, Period(2026, 11), now=datetime(2026, 12, 2, tzinfo=UTC))


def test_a_period_that_has_not_ended_cannot_be_closed(kashi, new_tenant, operator_client):
    with pytest.raises(Conflict):
        close_tenant(kashi.engine, new_tenant, Period(2026, 11), now=datetime(2026, 11, 30, 15, tzinfo=UTC))
    for query in (f"?tenant_id={new_tenant}", ""):
        answer = operator_client.post(f"/v1/periods/2099-01/close{query}")
        assert answer.status_code == 409, (query, answer.text)
        assert [d["field"] for d in answer.json()["error"]["details"]] == ["period"]


def test_closing_every_tenant_before_the_period_ends_anywhere_is_refused(kashi, new_tenant):
    # 2026-11 ends at 2026-11-30T10:00Z in UTC+14, the first zone to leave it.
    with pytest.raises(Conflict):
        close_period(kashi.engine, Period(2026, 11), now=datetime(2026, 11, 30, 9, 59, tzinfo=UTC))


@pytest.mark.parametrize("period", ["2026-13", "abc", "2026-1"])
def test_a_malformed_period_is_refused_naming_period(operator_client, period):
    answer = operator_client.post(f"/v1/periods/{period}/close")
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["period"]


def test_cli_close_of_a_period_that_has_not_ended_fails_on_stderr(kashi, monkeypatch):
    from kashi.cli import app

    monkeypatch.setenv("KASHI_DATABASE_URL", kashi.servers.database_url)
    monkeypatch.setenv("KASHI_REDIS_URL", kashi.servers.redis_url)
    result = CliRunner().invoke(app, ["close", "2099-01"])
    assert result.exit_code != 0 and result.stdout == ""
    assert "2099-01 has not ended" in result.stderr
    malformed = CliRunner().invoke(app, ["close", "2026-13"])
    assert malformed.exit_code != 0 and "period" in malformed.stderr


def test_issued_invoice_cannot_be_updated_or_deleted_in_the_database(kashi, uid, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, SEPT)
    for statement in (
        "UPDATE invoices SET total = 0 WHERE id = :id",
        "DELETE FROM invoice_lines WHERE invoice_id = :id",
        "UPDATE period_closes SET watermark = 0 WHERE tenant_id = :t",
    ):
        with pytest.raises(Exception, match="append-only"), kashi.engine.begin() as conn:
            conn.execute(text(statement), {"id": invoice_id, "t": new_tenant})


def test_change_effective_inside_a_closed_period_is_refused(kashi, uid, new_tenant):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    close_period(kashi.engine, SEPT, new_tenant)
    with kashi.engine.connect() as conn:
        closed = closed_periods(conn, new_tenant)
    assert closed == [SEPT]
    with pytest.raises(PeriodAlreadyClosed):
        ensure_period_open(datetime(2026, 9, 20, tzinfo=UTC), "Asia/Shanghai", closed)
    ensure_period_open(datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=3), "Asia/Shanghai", closed)


def test_credit_note_above_what_remains_is_refused(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    (invoice_id,) = close_tenant(kashi.engine, new_tenant, SEPT)
    first = operator_client.post(
        f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": "15000.00", "reason": "货损补偿 outage credit"}
    )
    assert first.status_code == 201, first.text
    assert parse_number(first.json()["number"])[0] == "KC"
    too_much = operator_client.post(
        f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": "264.01", "reason": "more"}
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "credit_exceeds_remaining"
    rest = operator_client.post(f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": "264.00", "reason": "r"})
    assert rest.status_code == 201
    notes = operator_client.get(f"/v1/invoices/{invoice_id}/credit-notes").json()
    assert notes["remaining"] == "0.00" and notes["next_cursor"] is None
    assert [(n["amount"], n["reason"]) for n in notes["items"]] == [
        ("15000.00", "货损补偿 outage credit"),
        ("264.00", "r"),
    ]
    assert (
        operator_client.post(
            f"/v1/invoices/{invoice_id}/credit-notes", json={"amount": 1.5, "reason": "float"}
        ).status_code
        == 422
    )


def test_contracts_api_refuses_termination_inside_a_closed_period(kashi, uid, new_tenant, operator_client):
    sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
    close_tenant(kashi.engine, new_tenant, SEPT)
    inside = {"effective_at": "2026-09-20T00:00:00+08:00", "notice_given_at": "2026-09-01T00:00:00+08:00"}
    answer = operator_client.post(f"/v1/contracts/c-{uid}/termination", json=inside)
    assert answer.status_code == 409, answer.text
    amendment = {"item_id": "i-m", "changes": {"machines": 1}, "effective_at": "2026-09-25T00:00:00+08:00"}
    assert operator_client.post(f"/v1/contracts/c-{uid}/amendments", json=amendment).status_code == 409


def test_usage_is_rated_only_while_the_contract_runs_inside_the_boundary_hours(kashi, uid, operator_client, new_tenant):
    from billing.services import contracts as contracts_service

    gpu_hour = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "10.00"}
    sign(kashi, contract(f"c-{uid}", new_tenant, gpu_hour, TOKENS, start="2026-10-01T00:30:00+08:00"))
    with kashi.engine.begin() as conn:
        contracts_service.terminate(
            conn,
            f"c-{uid}",
            {"effective_at": "2026-10-10T10:30:00+08:00", "notice_given_at": "2026-09-01T00:00:00+08:00"},
            actor="test",
        )
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 1, new_tenant, "2026-10-01T00:00:00+08:00", "2026-10-01T01:00:00+08:00", gpu="A"),
            gpu_event(uid, 2, new_tenant, "2026-10-10T10:00:00+08:00", "2026-10-10T11:00:00+08:00", gpu="B"),
            token_event(uid, 3, new_tenant, "2026-10-10T10:15:00+08:00", output_tokens=0),  # before the end: charged
            token_event(uid, 4, new_tenant, "2026-10-10T10:45:00+08:00", output_tokens=0),  # after it: unrated
        ],
    )
    (invoice,) = close_tenant(kashi.engine, new_tenant, OCT, now=datetime(2026, 11, 2, tzinfo=UTC))
    lines = {line["kind"]: line for line in _lines(operator_client, invoice)["lines"]}
    # half an hour at each end lies inside the contract: 1 card-hour at 10.00, not 2
    assert (lines["gpu_hour"]["quantity"], lines["gpu_hour"]["amount"]) == ("1", "10.00")
    assert lines["token"]["amount"] == "2.00"  # one event's 1M input tokens at 2.00
    unrated = operator_client.get("/v1/usage/unrated", params={"tenant_id": new_tenant}).json()["items"]
    assert sum(int(u["card_seconds"]) for u in unrated if u["type"] == "gpu") >= 3600
