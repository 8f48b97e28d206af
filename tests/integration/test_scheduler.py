"""The scheduler closes a tenant's latest ended period once the grace has passed (SPEC §7, issue 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from billing.core.periods import Period
from billing.services import tenants
from tests.integration.billing_scenario import contract, invoice_rows, sign
from workers.close import CLOSE_QUEUE, enqueue_close
from workers.scheduler import run_once

MACHINES = {"id": "i-m", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 1, "unit_price": "7200.00"}
GRACE = timedelta(hours=24)


def test_scheduler_closes_the_latest_period_only_after_grace(kashi, uid):
    tokyo, shanghai = f"t-{uid}-tokyo", f"t-{uid}-sh"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tokyo, "name": "東京", "timezone": "Asia/Tokyo"}, actor="test")
        tenants.create(conn, {"id": shanghai, "name": "上海算力"}, actor="test")
    with freeze_time("2026-07-20T00:00:00Z"):  # signed before the periods were due: not backdated
        for tenant_id in (tokyo, shanghai):
            sign(kashi, contract(f"c-{tenant_id}", tenant_id, MACHINES, start="2026-08-01T00:00:00+08:00"))
    both = [tokyo, shanghai]
    broker = kashi._workers[0].broker
    enqueued: list[tuple[str, Period]] = []

    def enqueue(tenant_id, period):
        enqueued.append((tenant_id, period))
        enqueue_close(broker, tenant_id, period)

    # October ends at 2026-10-31T15:00Z in Tokyo and 16:00Z in Shanghai; grace is 24 h.
    assert (
        run_once(kashi.engine, enqueue, now=datetime(2026, 11, 1, 14, 59, tzinfo=UTC), grace=GRACE, tenant_ids=both)
        == []
    )
    due = run_once(kashi.engine, enqueue, now=datetime(2026, 11, 1, 15, 30, tzinfo=UTC), grace=GRACE, tenant_ids=both)
    assert due == [(tokyo, Period(2026, 10))]
    broker.join(CLOSE_QUEUE, timeout=60_000)
    kashi.join()
    assert [(r.period, r.currency) for r in invoice_rows(kashi, tokyo)] == [("2026-10", "CNY")]
    assert invoice_rows(kashi, shanghai) == []
    later = run_once(kashi.engine, enqueue, now=datetime(2026, 11, 2, 16, tzinfo=UTC), grace=GRACE, tenant_ids=both)
    assert later == [(shanghai, Period(2026, 10))]  # Tokyo's is closed; September, never closed, is left alone
    broker.join(CLOSE_QUEUE, timeout=60_000)
    kashi.join()
    assert [r.period for r in invoice_rows(kashi, shanghai)] == ["2026-10"]
    assert all(r.period != "2026-09" for r in invoice_rows(kashi, tokyo) + invoice_rows(kashi, shanghai))
