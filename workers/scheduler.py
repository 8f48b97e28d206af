"""`kashi scheduler`: closes each tenant's most recent ended period once its grace has passed (period end + grace).

Every `scheduler_interval_s` (default 60 s) it asks, per tenant, which period is due
(`billing.core.periods.period_due`: the latest ended period in the tenant's timezone, once period end +
`close_grace_hours` (default 24) has passed) and enqueues the `close_period` actor, per period and
chunk of tenants, for those not yet closed whose contracts were all recorded before the period was
due (`billing.core.backdating`).
Backdated and older unclosed periods are never closed behind the operator's back. Several schedulers at once
are harmless: the close itself is idempotent and serialised in PostgreSQL.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from billing.core.periods import Period, period_due
from billing.services.close import utc_now
from billing.services.pending import CHUNK, backdated_contracts_of
from billing.store import tenants

log = logging.getLogger(__name__)


def due_closes(
    engine: Engine, now: datetime, grace: timedelta, tenant_ids: Iterable[str] | None = None
) -> list[tuple[str, Period]]:
    """(tenant, period) pairs that are due at `now`, not closed yet, and not backdated (a contract in
    force in the period recorded after it was due leaves it to the operator: `GET /v1/periods/pending`);
    `tenant_ids` limits the tenants."""
    wanted = None if tenant_ids is None else list(tenant_ids)
    due = []
    with engine.connect() as conn:
        zones = tenants.zones(conn, wanted)
        closed = {(r.tenant_id, r.period) for r in conn.execute(text("SELECT tenant_id, period FROM period_closes"))}
        candidates = []
        for tenant_id, tz in zones:
            period = period_due(now, tz, grace)
            if period is not None and (tenant_id, str(period)) not in closed:
                candidates.append((tenant_id, tz, period))
        for n in range(0, len(candidates), CHUNK):  # the contracts of a chunk of tenants at a time
            chunk = candidates[n : n + CHUNK]
            backdated = backdated_contracts_of(conn, chunk, grace)
            for tenant_id, _, period in chunk:
                if tenant_id in backdated:
                    log.info(
                        "close left to the operator: backdated contracts",
                        extra={"tenant_id": tenant_id, "period": str(period), "contract_ids": backdated[tenant_id]},
                    )
                else:
                    due.append((tenant_id, period))
    return due


def run_once(
    engine: Engine,
    enqueue: Callable[[Period, list[str]], None],
    *,
    now: datetime,
    grace: timedelta,
    tenant_ids: Iterable[str] | None = None,
) -> list[tuple[str, Period]]:
    """Enqueue every due close, ``enqueue(period, tenant_ids)`` once per period due (tenants whose
    zones end the month apart can be due for different ones); returns the ``(tenant, period)`` pairs."""
    due = due_closes(engine, now, grace, tenant_ids)
    by_period: dict[Period, list[str]] = {}
    for tenant_id, period in due:
        by_period.setdefault(period, []).append(tenant_id)
    for period, tenants_due in by_period.items():
        log.info("close due", extra={"period": str(period), "tenants": len(tenants_due)})
        enqueue(period, tenants_due)
    return due


def run_suppliers_once(
    engine: Engine, enqueue: Callable[[str, Period], None], *, now: datetime, grace: timedelta
) -> list[tuple[str, Period]]:
    """Enqueue every due supplier close (the tenants' rule: latest ended period, after grace)."""
    from billing.services.supplier_bills import due_suppliers

    with engine.connect() as conn:
        due = due_suppliers(conn, now, grace, period_due)
    for supplier_id, period in due:
        log.info("supplier close due", extra={"supplier_id": supplier_id, "period": str(period)})
        enqueue(supplier_id, period)
    return due


def evaluate_risk(engine: Engine, now: datetime) -> list[str]:
    """Record which contracts crossed into breach risk at `now` (daily); the ids newly at risk."""
    from billing.services.risk import evaluate

    with engine.begin() as conn:
        return [row["contract_id"] for row in evaluate(conn, now)]


def run_forever(settings, database_url: str, redis_url: str, clock: Callable[[], datetime] = utc_now) -> None:
    """Loop until SIGINT/SIGTERM, enqueueing due closes on the durable broker."""
    from kashi.db import make_engine
    from workers.broker import make_broker
    from workers.close import enqueue_close, enqueue_supplier_close

    engine = make_engine(database_url, pool_size=1)
    broker = make_broker(
        redis_url,
        namespace=settings.queue_namespace,
        heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
        waitaof_timeout_ms=settings.waitaof_timeout_ms,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    grace = timedelta(hours=settings.close_grace_hours)
    log.info("scheduler ready", extra={"grace_hours": settings.close_grace_hours})
    risk_day = None
    try:
        while not done.is_set():
            try:
                now = clock()
                run_once(engine, lambda p, due: enqueue_close(broker, p, due), now=now, grace=grace)
                run_suppliers_once(engine, lambda s, p: enqueue_supplier_close(broker, s, p), now=now, grace=grace)
                if risk_day != now.date():  # breach risk once a day (and once at start)
                    crossed = evaluate_risk(engine, now)
                    risk_day = now.date()
                    log.info("breach risk evaluated", extra={"newly_at_risk": len(crossed)})
            except Exception:  # keep scheduling through a database or Redis restart
                log.exception("scheduler pass failed; retrying next interval")
            done.wait(settings.scheduler_interval_s)
    finally:
        broker.close()
        engine.dispose()
