"""The month close of many tenants at once (issue 17): chunks of tenants in one transaction each, their
inputs loaded together and their invoices written in batches, over worker processes — with the same
exactly-once and gapless guarantees as closing one tenant at a time, and the same invoices."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import text

from billing.core.periods import Period
from billing.services import close as close_service
from billing.services import tenants
from billing.services.close import close_chunk, close_tenant, close_tenants
from billing.services.replay import verify_all
from billing.store.numbering import parse_number
from tests.integration.billing_scenario import contract, gpu_event, send, sign, token_event

SEPT, OCT = Period(2026, 9), Period(2026, 10)
NOW = datetime(2026, 11, 15, tzinfo=UTC)
H100 = {"id": "i-h", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50", "committed_card_hours": "2"}
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
    "machines": 1,
    "unit_price": "7200.00",
}


def _fleet(kashi, uid: str, count: int) -> list[tuple[str, str]]:
    """`count` tenants (Asia/Shanghai), each with a CNY and a USD contract and usage in September and
    October, September closed one tenant at a time, then late September usage sent."""
    fleet = []
    with kashi.engine.begin() as conn:
        for n in range(count):
            tenants.create(conn, {"id": f"t-{uid}-{n}", "name": f"Tenant {n}"}, actor="test")
            fleet.append((f"t-{uid}-{n}", "Asia/Shanghai"))
    events = []
    for n, (tenant, _) in enumerate(fleet):
        sign(kashi, contract(f"c-{uid}-{n}", tenant, H100, TOKENS))
        sign(kashi, contract(f"c-{uid}-{n}-usd", tenant, {**MACHINES, "unit_price": "1000.00"}, currency="USD"))
        events += [
            gpu_event(uid, 10 * n, tenant, "2026-09-30T20:00:00+08:00", "2026-10-01T06:00:00+08:00", gpu=f"G{n}"),
            token_event(uid, 10 * n + 1, tenant, "2026-10-12T12:00:00Z"),
        ]
    send(kashi, uid, events)
    for tenant, _ in fleet:
        close_tenant(kashi.engine, tenant, SEPT, now=NOW)
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 10 * n + 2, tenant, "2026-09-29T00:00:00+08:00", "2026-09-29T05:00:00+08:00", gpu=f"L{n}")
            for n, (tenant, _) in enumerate(fleet)
        ],
    )
    return fleet


def _invoices(kashi, fleet):
    with kashi.engine.connect() as conn:
        return conn.execute(
            text("""SELECT tenant_id, period, currency, number, subtotal, tax, total FROM invoices
                                    WHERE tenant_id = ANY(:t) ORDER BY tenant_id, period, currency"""),
            {"t": [tenant for tenant, _ in fleet]},
        ).all()


def _lines(kashi, fleet):
    with kashi.engine.connect() as conn:
        return conn.execute(
            text("""SELECT i.tenant_id, i.currency, l.position, l.kind, l.description, l.quantity,
                                           l.amount, l.charged_period FROM invoice_lines l
                                    JOIN invoices i ON i.id = l.invoice_id
                                    WHERE i.tenant_id = ANY(:t) AND i.period = :p
                                    ORDER BY i.tenant_id, i.currency, l.position"""),
            {"t": [tenant for tenant, _ in fleet], "p": str(OCT)},
        ).all()


def test_a_chunked_close_issues_what_closing_one_tenant_at_a_time_issues_with_late_usage_adjusted(
    kashi, uid, monkeypatch
):
    one_by_one = _fleet(kashi, f"{uid}a", 3)
    chunked = _fleet(kashi, f"{uid}b", 3)
    for tenant, _ in one_by_one:
        close_tenant(kashi.engine, tenant, OCT, now=NOW)
    monkeypatch.setattr(close_service, "CLOSE_CHUNK", 2)  # two chunks: 2 tenants, then 1
    ids = close_tenants(kashi.engine, chunked, OCT, NOW)

    def shape(rows):
        return [(tenant.rsplit("-", 1)[1], *rest) for tenant, *rest in rows]

    expected = _lines(kashi, one_by_one)
    assert any(row.charged_period == str(SEPT) for row in expected)  # the late September usage is adjusted
    assert shape(_lines(kashi, chunked)) == shape(expected)
    october = [row for row in _invoices(kashi, chunked) if row.period == str(OCT)]
    assert len(ids) == len(october) == 6
    assert close_tenants(kashi.engine, chunked, OCT, NOW) == ids  # a second run answers the same ids
    mine = [d for d in verify_all(kashi.engine) if any(tenant in d for tenant, _ in chunked)]
    assert mine == []  # replay re-assembles every chunked invoice one tenant at a time, identically


def test_eight_concurrent_chunked_closes_issue_one_invoice_per_tenant_and_currency_gaplessly(kashi, uid, monkeypatch):
    fleet = _fleet(kashi, uid, 5)
    monkeypatch.setattr(close_service, "CLOSE_CHUNK", 2)

    def close(n):  # different chunkings and orders, racing each other and single-tenant closes
        if n % 4 == 3:
            return sorted(i for tenant, _ in fleet for i in close_tenant(kashi.engine, tenant, OCT, now=NOW))
        order = fleet if n % 2 else list(reversed(fleet))
        if n % 4 == 2:
            return sorted(close_chunk(kashi.engine, order, OCT, NOW))
        return sorted(close_tenants(kashi.engine, order, OCT, NOW))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(close, range(8)))
    assert all(result == results[0] for result in results)
    october = [row for row in _invoices(kashi, fleet) if row.period == str(OCT)]
    assert sorted((r.tenant_id, r.currency) for r in october) == sorted(
        (tenant, currency) for tenant, _ in fleet for currency in ("CNY", "USD")
    )
    with kashi.engine.connect() as conn:
        numbers = conn.execute(text("SELECT number, currency FROM invoices")).all()
    for currency in ("CNY", "USD"):
        sequence = sorted(parse_number(n)[3] for n, c in numbers if c == currency and parse_number(n)[2] == 2026)
        assert sequence == list(range(1, len(sequence) + 1)), f"{currency} numbers have a gap"


def test_a_close_split_over_worker_processes_issues_one_invoice_per_tenant_and_currency(kashi, uid, monkeypatch):
    fleet = _fleet(kashi, uid, 4)
    monkeypatch.setattr(close_service, "CLOSE_CHUNK", 1)  # spawned processes import the module: 500 there
    ids = close_tenants(kashi.engine, fleet, OCT, NOW, processes=2)
    october = [row for row in _invoices(kashi, fleet) if row.period == str(OCT)]
    assert len(ids) == len(set(ids)) == len(october) == 8
    assert close_tenants(kashi.engine, fleet, OCT, NOW, processes=2) == ids
