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

    def enqueue(period, tenant_ids):
        enqueued.extend((tenant_id, period) for tenant_id in tenant_ids)
        enqueue_close(broker, period, tenant_ids)

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


def test_due_tenants_are_closed_a_chunk_per_message_and_an_older_message_still_closes(kashi, uid, monkeypatch):
    import dramatiq

    import workers.close

    ids = _tenants_signed_before_due(kashi, [f"t-{uid}-{n}" for n in range(4)])
    broker = kashi._workers[0].broker
    sent = []
    enqueue = broker.enqueue
    monkeypatch.setattr(broker, "enqueue", lambda message, **kw: sent.append(message.args) or enqueue(message, **kw))
    monkeypatch.setattr(workers.close, "CLOSE_CHUNK", 2)
    now = datetime(2026, 11, 2, 0, tzinfo=UTC)
    due = run_once(kashi.engine, lambda p, t: enqueue_close(broker, p, t), now=now, grace=GRACE, tenant_ids=ids[:3])
    assert sorted(t for t, _ in due) == ids[:3]
    assert sent == [("2026-10", ids[:2]), ("2026-10", ids[2:3])]  # one message per chunk, not per tenant
    enqueue_close(broker, Period(2026, 10), ids[:3])  # a second scheduler's: changes nothing
    # the shape a scheduler before chunked closes queued, (tenant_id, period), still closes
    enqueue(
        dramatiq.Message(
            queue_name=CLOSE_QUEUE, actor_name="close_period", args=(ids[3], "2026-10"), kwargs={}, options={}
        )
    )
    broker.join(CLOSE_QUEUE, timeout=60_000)
    kashi.join()
    for tenant_id in ids:
        assert [(r.period, r.currency) for r in invoice_rows(kashi, tenant_id)] == [("2026-10", "CNY")]


def test_a_scheduler_pass_reads_a_fixed_number_of_statements_however_many_tenants_are_due(kashi, uid):
    from sqlalchemy import event

    from workers.scheduler import due_closes

    def statements(count: int) -> tuple[int, int]:
        ids = _tenants_signed_before_due(kashi, [f"t-{uid}-{count}-{n}" for n in range(count)])
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - the statement text
        event.listen(kashi.engine, "before_cursor_execute", listener)
        try:
            due = due_closes(kashi.engine, datetime(2026, 11, 2, tzinfo=UTC), GRACE, ids)
        finally:
            event.remove(kashi.engine, "before_cursor_execute", listener)
        assert sorted(t for t, _ in due) == sorted(ids)
        return len(seen), len(due)

    assert statements(2)[0] == statements(12)[0]  # not one read per tenant


def _tenants_signed_before_due(kashi, ids: list[str]) -> list[str]:
    """Shanghai tenants, each with a machine contract from 2026-08 signed before October was due."""
    with kashi.engine.begin() as conn:
        for tenant_id in ids:
            tenants.create(conn, {"id": tenant_id, "name": tenant_id}, actor="test")
    with freeze_time("2026-07-20T00:00:00Z"):
        for tenant_id in ids:
            sign(kashi, contract(f"c-{tenant_id}", tenant_id, MACHINES, start="2026-08-01T00:00:00+08:00"))
    return ids
