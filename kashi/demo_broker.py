"""The broker's part of `kashi demo` (SPEC §16, §17): a compute broker (算力中介) buys 60 machines of
8×RTX-4090 at 5,000 CNY/month for 3 years closed from a centre and resells them at 7,200 to three
tenants (20 machines each, penalty rates 0.30, 0.20 and 0.25); the market falls to 5,500 and then to
4,800; after each step the breach-risk and margin reports are printed; then the tenant most at risk
breaks, pays its penalty, and the margin report shows what the broker still owes the centre.
The reports are as at the first of next month (the next billing date), so the figures are whole
months: 23 closed months remain then of each contract (signed 12 months before this month).

`run(kashi, console)` is called by `kashi.demo` after the billing part. Fresh ids per run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from rich.console import Console

from billing.core.periods import Period, instant_to_json, period_of
from billing.services import contracts as contracts_service
from billing.services import margin, risk, suppliers, tenants
from kashi.cli.report import breach_table, margin_table

TZ = "Asia/Shanghai"
RATES = {"a": "0.30", "b": "0.20", "c": "0.25"}
NAMES = {"a": "星河智能科技", "b": "Lumen Robotics", "c": "深蓝大模型实验室"}


def run(kashi, console: Console) -> None:
    run_id = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    month = period_of(now, TZ).next()
    as_of = month.start(TZ)
    start = instant_to_json(month.shift(-13).start(TZ))  # 13 of the 36 closed months run by `as_of`
    supplier_id, payable = f"centre-{run_id}", f"buy-{run_id}"
    base = {
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": start,
        "closed_months": 36,
        "open_months": 24,
        "notice_days": 30,
    }
    item = {"id": "i-1", "pricing": "machine_month", "gpu_model": "RTX-4090", "cards_per_machine": 8}
    with kashi.engine.begin() as conn:
        suppliers.create(
            conn,
            {
                "id": supplier_id,
                "name": "华东智算中心",
                "legal_name": "华东智算中心有限公司",
                "tax_id": "91330100MA2DEMO001",
            },
            actor="demo",
        )
        contracts_service.sign(
            conn,
            {
                **base,
                "id": payable,
                "supplier_id": supplier_id,
                "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
                "items": [{**item, "machines": 60, "unit_price": "5000.00"}],
            },
            actor="demo",
        )
        for key, rate in RATES.items():
            tenant_id = f"resale-{key}-{run_id}"
            tenants.create(conn, {"id": tenant_id, "name": NAMES[key]}, actor="demo")
            penalty = {"basis": "remaining_closed_value", "rate": rate}
            contracts_service.sign(
                conn,
                {
                    **base,
                    "id": f"sell-{key}-{run_id}",
                    "tenant_id": tenant_id,
                    "open_months": 0,
                    "penalty": penalty,
                    "items": [{**item, "machines": 20, "unit_price": "7200.00", "supplied_by": f"{payable}/i-1"}],
                },
                actor="demo",
            )
    console.rule("[bold]The broker's books[/]: 60 × 8×RTX-4090 bought at 5,000, resold at 7,200 to three tenants")
    operator = httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key('operator')}"}
    )
    mine = {f"sell-{key}-{run_id}" for key in RATES}
    for step, (price, hours) in enumerate((("5500.00", 2), ("4800.00", 1)), 1):
        answer = operator.post(
            "/v1/market/rents",
            json={
                "gpu_model": "RTX-4090",
                "unit": "machine_month",
                "price": price,
                "currency": "CNY",
                "observed_at": instant_to_json(now - timedelta(hours=hours)),
                "source": "demo: broker quotes, Hangzhou",
            },
        )
        answer.raise_for_status()
        crossed = [c for c in answer.json()["at_risk"] if c in mine]
        console.print(
            f"[bold]step {step}[/]: the market for a machine-month of 8×RTX-4090 is now {price} CNY; "
            f"newly at risk (contract.at_risk): {', '.join(crossed) or 'none'}"
        )
        _reports(kashi, console, mine, payable, month, as_of)
    worst = _worst(kashi, mine, as_of)
    if worst is not None:
        with kashi.engine.begin() as conn:
            ended = contracts_service.terminate(conn, worst, {"effective_at": instant_to_json(as_of)}, actor="demo")
        console.print(
            f"[bold]step 3[/]: {worst} breaks from {month} and pays a penalty of {ended['amount']} CNY; "
            "the broker still owes the centre for all 60 machines"
        )
        _reports(kashi, console, mine, payable, month, as_of)
    operator.close()


def _worst(kashi, mine: set[str], as_of: datetime) -> str | None:
    with kashi.engine.connect() as conn:
        rows = [row for row in risk.rows(conn, as_of) if row.contract_id in mine and row.at_risk]
    return rows[0].contract_id if rows else None


def _reports(kashi, console: Console, mine: set[str], payable: str, month: Period, as_of: datetime) -> None:
    with kashi.engine.connect() as conn:
        breach = risk.report_json(conn, as_of)
        books = margin.report_json(conn, month, now=as_of)
    breach["items"] = [row for row in breach["items"] if row["contract_id"] in mine]
    breach["at_risk"] = sum(row["at_risk"] for row in breach["items"])
    books["items"] = [row for row in books["items"] if row["contract_id"] == payable]
    books["totals"] = {}
    risk_table, books_table = breach_table(breach), margin_table(books)
    risk_table.caption = (
        f"the broker's three resale contracts only ({', '.join(sorted(mine))}); "
        f"`kashi report breach-risk` shows every contract"
    )
    books_table.caption = f"the payable item {payable}/i-1 only; exposure as of {instant_to_json(as_of)}"
    console.print(risk_table)
    console.print(books_table)
