"""A small, realistic world for the console's browser tests: two tenants with Chinese names, a
large machine-month contract, card-hour usage (some of it unrated), November closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, send, sign

CLOSED = Period(2026, 11)
RTX = {
    "id": "rtx",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 60,
    "unit_price": "5000.00",
}
H100 = {"id": "h100", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}


def _usage(uid: str, tenant_id: str, days: list[datetime], model: str, gpu: str) -> list[dict]:
    events = []
    for n, day in enumerate(days):
        start, end = day, day + timedelta(hours=6 + n % 5)
        events.append(
            {
                "specversion": "1.0",
                "id": f"{uid}-{gpu}-{n}",
                "source": f"node/{uid}",
                "type": "gpu.usage",
                "subject": tenant_id,
                "time": end.isoformat(),
                "data": {
                    "node": "n1",
                    "gpu": f"{uid}-{gpu}",
                    "gpu_model": model,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                },
            }
        )
    return events


def seed(kashi, uid: str, *, now: datetime | None = None) -> dict:
    """Create the world; returns the ids and keys the tests use."""
    now = now or datetime.now(UTC)
    a, b = f"t-{uid}-a", f"t-{uid}-b"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": a, "name": f"深度求索算力 DeepSeek {uid}"}, actor="test")
        tenants.create(conn, {"id": b, "name": f"北京智算中心 {uid}"}, actor="test")
    sign(
        kashi, contract(f"c-{uid}-a", a, RTX, H100, start="2026-01-01T00:00:00+08:00", closed_months=36, open_months=12)
    )
    sign(kashi, contract(f"c-{uid}-b", b, {**H100, "unit_price": "14.00"}, start="2026-10-01T00:00:00+08:00"))
    november = [datetime(2026, 11, d, 1, tzinfo=UTC) for d in range(1, 29, 3)]
    this_month = [now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=d) for d in (1, 2, 3)]
    this_month = [d for d in this_month if d >= datetime(2026, 12, 1, tzinfo=UTC) - timedelta(hours=8)] or november
    events = (
        _usage(uid, a, november, "H100-SXM", "g0")
        + _usage(uid, a, november[:3], "A800", "g1")
        + _usage(uid, b, november[:4], "H100-SXM", "g2")
    )
    send(kashi, uid, events)
    invoices = {t: close_tenant(kashi.engine, t, CLOSED)[0] for t in (a, b)}
    return {
        "tenant_a": a,
        "tenant_b": b,
        "contract_a": f"c-{uid}-a",
        "invoice_a": invoices[a],
        "invoice_b": invoices[b],
        "keys": {
            "operator": kashi.key("operator"),
            "finance": kashi.key("finance"),
            "tenant": kashi.key("tenant", tenant=a),
            "agent": kashi.key("agent", source=f"node/{uid}-x"),
        },
    }
