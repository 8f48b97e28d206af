"""A small, realistic world for the console's browser tests: two tenants with Chinese names (one
with a full billing profile), a large machine-month contract bought from a supplier and resold,
card-hour usage (some of it unrated), the fleet's gpu.status with idle and down cards, a market
30% below the contract (breach risk), September closed long ago (overdue) and November closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.core.periods import Period
from billing.services import catalog, risk, supplier_bills, suppliers, tenants
from billing.services.close import close_tenant
from tests.integration.billing_scenario import contract, send, sign

CLOSED = Period(2026, 11)
OVERDUE = Period(2026, 9)
RTX = {
    "id": "rtx",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 60,
    "unit_price": "5000.00",
}
H100 = {"id": "h100", "pricing": "gpu_hour", "gpu_model": "H100-SXM", "unit_price": "12.50"}


def _status(uid: str, gpu: str, model: str, node: str, days: list[datetime], state_of) -> list[dict]:
    """One gpu.status per GPU per day; ``state_of(day)`` is ``(state, reason or None)``."""
    events = []
    for day in days:
        state, reason = state_of(day)
        data = {"node": node, "gpu": f"{uid}-{gpu}", "gpu_model": model, "state": state}
        data.update(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat())
        if reason:
            data["reason"] = reason
        events.append(
            {
                "specversion": "1.0",
                "id": f"{uid}-{gpu}-status-{day:%m%d}",
                "source": f"node/{uid}",
                "type": "gpu.status",
                "time": (day + timedelta(days=1)).isoformat(),
                "data": data,
            }
        )
    return events


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
                    "node": f"{uid}-n1",
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
    model, supplier, payable = f"RTX-4090-{uid}", f"sup-{uid}", f"buy-{uid}"
    with kashi.engine.begin() as conn:
        catalog.add(
            conn,
            {"name": model, "fp16_tflops": "165.2", "source": "test", "list_price_per_card_hour": "1.80"},
            actor="test",
        )
        tenants.create(
            conn,
            {
                "id": a,
                "name": f"深度求索算力 DeepSeek {uid}",
                "legal_name": f"杭州深度求索人工智能基础技术研究有限公司 {uid}",
                "tax_id": "91330105MA2KXXXX1X",
                "address": "浙江省杭州市拱墅区环城北路169号汇金国际大厦西1幢1201室",
                "billing_email": "finance@deepseek.example",
            },
            actor="test",
        )
        tenants.create(conn, {"id": b, "name": f"北京智算中心 {uid}"}, actor="test")
        suppliers.create(
            conn,
            {
                "id": supplier,
                "name": f"杭州智算中心 {uid}",
                "legal_name": "杭州智算中心有限公司",
                "tax_id": "91330100MA2XXXXXX1",
                "currency": "CNY",
            },
            actor="test",
        )
    bought = {**RTX, "gpu_model": model, "unit_price": "4000.00"}
    buy = contract(payable, None, bought, start="2026-01-01T00:00:00+08:00", closed_months=36, open_months=12)
    del buy["tenant_id"]
    sign(kashi, {**buy, "supplier_id": supplier})
    resold = {**RTX, "gpu_model": model, "supplied_by": f"{payable}/rtx"}
    sign(
        kashi,
        contract(f"c-{uid}-a", a, resold, H100, start="2026-01-01T00:00:00+08:00", closed_months=36, open_months=12),
    )
    sign(kashi, contract(f"c-{uid}-b", b, {**H100, "unit_price": "14.00"}, start="2026-10-01T00:00:00+08:00"))
    with kashi.engine.begin() as conn:  # the market 30% below the contract's 5,000 a machine-month: at risk
        rent = {"gpu_model": model, "unit": "machine_month", "price": "3500.00", "currency": "CNY"}
        risk.record_rent(
            conn, {**rent, "observed_at": "2026-11-15T00:00:00+08:00", "source": "broker quote"}, actor="test"
        )
    november = [datetime(2026, 11, d, 1, tzinfo=UTC) for d in range(1, 29, 3)]
    this_month = [now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=d) for d in (1, 2, 3)]
    this_month = [d for d in this_month if d >= datetime(2026, 12, 1, tzinfo=UTC) - timedelta(hours=8)] or november
    days = [datetime(2026, 10, 31, 16, tzinfo=UTC) + timedelta(days=d) for d in range(30)]
    used = {d.date() for d in november}

    def held(day):
        return ("allocated", None) if (day + timedelta(hours=9)).date() in used else ("idle", None)

    def flaky(day):
        return ("down", "XID 79 (GPU has fallen off the bus)") if 10 <= day.day <= 12 else ("idle", None)

    node = f"{uid}-n1"
    events = (
        _usage(uid, a, november, "H100-SXM", "g0")
        + _usage(uid, a, november[:3], "A800", "g1")
        + _usage(uid, b, november[:4], "H100-SXM", "g2")
        + _status(uid, "g0", "H100-SXM", node, days, held)
        + _status(uid, "g2", "H100-SXM", node, days, held)
        + _status(uid, "g3", "H100-SXM", node, days, lambda day: ("idle", None))
        + _status(uid, "g4", "H100-SXM", node, days[:12], flaky)  # down since 11-10, silent after 11-12
        + [e for n in range(4) for e in _status(uid, f"r{n}", model, f"{uid}-n2", days, lambda day: ("idle", None))]
    )
    send(kashi, uid, events[:200])
    send(kashi, uid, events[200:])
    overdue = close_tenant(kashi.engine, a, OVERDUE, now=datetime(2026, 10, 2, 2, tzinfo=UTC))[0]
    invoices = {t: close_tenant(kashi.engine, t, CLOSED)[0] for t in (a, b)}
    supplier_bills.close_supplier(kashi.engine, supplier, CLOSED)
    return {
        "tenant_a": a,
        "tenant_b": b,
        "contract_a": f"c-{uid}-a",
        "payable": payable,
        "supplier": supplier,
        "model": model,
        "invoice_a": invoices[a],
        "invoice_b": invoices[b],
        "overdue_a": overdue,
        "keys": {
            "operator": kashi.key("operator"),
            "finance": kashi.key("finance"),
            "tenant": kashi.key("tenant", tenant=a),
            "agent": kashi.key("agent", source=f"node/{uid}-x"),
        },
    }
