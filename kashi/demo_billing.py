"""The billing half of `kashi demo`: contracts of every pricing kind, a closed-term penalty and an
open-term notice, usage with late events, a month closed, invoices printed and one written as PDF.

`run(kashi, console)` is called by `kashi.demo` once its usage part has run. Each run uses fresh ids
(a run suffix), so the demo can be repeated on the same data directory.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from billing.core.periods import Period, instant_to_json, period_of
from billing.documents.pdf import render_invoice
from billing.services import contracts as contracts_service
from billing.services import invoices as invoice_store
from billing.services import parties, tenants
from billing.services.close import close_tenant
from billing.store.numbering import parse_number
from billing.store.tables import invoices as invoices_table

TZ = "Asia/Shanghai"


def _at(period: Period, day: int, hour: int = 0) -> str:
    return instant_to_json(period.start(TZ) + timedelta(days=day - 1, hours=hour))


def run(kashi, console: Console) -> None:
    run_id = uuid.uuid4().hex[:6]
    current = period_of(datetime.now(UTC), TZ).prev()  # the most recent ended month
    earlier = current.prev()
    start = instant_to_json(earlier.shift(-1).start(TZ))
    people = {
        f"zhisuan-{run_id}": "杭州智算云科技有限公司",
        f"lumen-{run_id}": "Lumen Robotics",
        f"kite-{run_id}": "Kite AI Lab",
        f"brk-{run_id}": "北方算力中介",
    }
    base = {
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": start,
        "notice_days": 30,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
    }
    zs, lumen, kite, brk = people
    documents = [
        {
            **base,
            "id": f"c-{zs}",
            "tenant_id": zs,
            "closed_months": 36,
            "open_months": 24,
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
        },
        {
            **base,
            "id": f"c-{lumen}",
            "tenant_id": lumen,
            "closed_months": 12,
            "open_months": 12,
            "items": [{"id": "i-1", "pricing": "p_year", "capacity_p": "100", "unit_price": "120000.00"}],
        },
        {
            **base,
            "id": f"c-{kite}",
            "tenant_id": kite,
            "closed_months": 1,
            "open_months": 24,
            "items": [
                {
                    "id": "i-1",
                    "pricing": "gpu_hour",
                    "gpu_model": "H100-SXM",
                    "unit_price": "12.50",
                    "committed_card_hours": "100",
                },
                {
                    "id": "i-2",
                    "pricing": "token",
                    "model": "qwen2.5-72b",
                    "input_price": "2.00",
                    "output_price": "8.00",
                    "cached_input_price": "0.50",
                },
            ],
        },
        {
            **base,
            "id": f"c-{brk}",
            "tenant_id": brk,
            "closed_months": 36,
            "open_months": 0,
            "items": [
                {
                    "id": "i-1",
                    "pricing": "machine_month",
                    "gpu_model": "A800",
                    "cards_per_machine": 8,
                    "machines": 4,
                    "unit_price": "75000.00",
                }
            ],
        },
    ]
    with kashi.engine.begin() as conn:
        issued_before = conn.execute(select(func.count()).select_from(invoices_table)).scalar_one()
        for tenant_id, name in people.items():
            tenants.create(conn, {"id": tenant_id, "name": name}, actor="demo")
        for document in documents:
            contracts_service.sign(conn, document, actor="demo")
    source = f"node/demo-billing-{run_id}"
    agent = httpx.Client(
        base_url=kashi.base_url, timeout=60, headers={"Authorization": f"Bearer {kashi.key('agent', source=source)}"}
    )

    def send(events):
        agent.post("/v1/events", json=events).raise_for_status()
        kashi.join()

    def gpu(n, period, day, hours, gpu_id="g0"):
        return {
            "specversion": "1.0",
            "id": f"{run_id}-{n}",
            "source": source,
            "type": "gpu.usage",
            "subject": kite,
            "time": _at(period, day, hours),
            "data": {
                "node": "n1",
                "gpu": f"{run_id}-{gpu_id}",
                "gpu_model": "H100-SXM",
                "start": _at(period, day),
                "end": _at(period, day, hours),
            },
        }

    def tokens(n, period, day):
        return {
            "specversion": "1.0",
            "id": f"{run_id}-t{n}",
            "source": source,
            "type": "llm.tokens",
            "subject": kite,
            "time": _at(period, day, 12),
            "data": {
                "model": "qwen2.5-72b",
                "input_tokens": 3_000_000,
                "output_tokens": 800_000,
                "cached_tokens": 500_000,
            },
        }

    with console.status(f"closing {earlier}, then late usage of {earlier}, terminations, and closing {current}…"):
        send([gpu(1, earlier, 3, 20), gpu(2, earlier, 4, 24), tokens(1, earlier, 5)])
        close_tenant(kashi.engine, kite, earlier)
        # Late: reported after the close of `earlier`, billed on the next invoice under their own period.
        send(
            [
                gpu(3, earlier, 20, 24, "g1"),
                gpu(4, earlier, 21, 24, "g1"),
                gpu(5, earlier, 22, 24, "g1"),
                gpu(6, earlier, 23, 24, "g1"),
                gpu(7, earlier, 24, 24, "g1"),
                tokens(2, earlier, 25),
                gpu(8, current, 2, 24),
                gpu(9, current, 3, 10),
                tokens(3, current, 9),
            ]
        )
        with kashi.engine.begin() as conn:
            mid = _at(current, 16)
            contracts_service.terminate(conn, f"c-{brk}", {"effective_at": mid, "notice_given_at": mid}, actor="demo")
            contracts_service.terminate(
                conn, f"c-{kite}", {"effective_at": mid, "notice_given_at": _at(current, 10)}, actor="demo"
            )
        invoice_ids = [i for tenant_id in people for i in close_tenant(kashi.engine, tenant_id, current)]
    agent.close()
    with kashi.engine.connect() as conn:
        invoices = [invoice_store.invoice_json(conn, invoice_id) for invoice_id in invoice_ids]
        chosen = next(i for i in invoices if i["tenant_id"] == kite)
        chosen_parties = parties.of_invoice(conn, chosen)
    _print(console, invoices, people, current, issued_before=issued_before, earlier=earlier)
    path = kashi.settings.data_dir / f"{chosen['number']}.pdf"
    path.write_bytes(render_invoice(chosen, parties=chosen_parties, timezone=TZ))
    console.print(f"invoice {chosen['number']} written as PDF: [bold]{path}[/]")


def _print(
    console: Console,
    invoices: list[dict],
    names: dict[str, str],
    period: Period,
    *,
    issued_before: int,
    earlier: Period,
) -> None:
    first = min(invoices, key=lambda i: parse_number(i["number"])[3])["number"]
    books = (
        "these books held no invoice before this run"
        if issued_before == 0
        else f"these books held {issued_before} invoice(s) before this run"
    )
    why = f"{books}, and the run closed {earlier} for one tenant first"
    table = Table(
        title=f"Invoices of {period} (Asia/Shanghai)",
        show_lines=False,
        caption=f"the {len(names)} tenants this demo run created ({', '.join(names)}); numbered from "
        f"{first}: {why} (numbers are gapless per series and year, and never reused)",
    )
    for column in ("number", "tenant", "kind", "description", "amount", "tax"):
        table.add_column(column, justify="right" if column in ("amount", "tax") else "left", overflow="fold")
    for invoice in invoices:
        for n, line in enumerate(invoice["lines"]):
            first = n == 0
            table.add_row(
                invoice["number"] if first else "",
                names[invoice["tenant_id"]] if first else "",
                line["kind"],
                line["description"],
                line["amount"],
                line["tax"],
            )
        table.add_row(
            "",
            "",
            "",
            f"[bold]total {invoice['currency']}[/]",
            f"[bold]{invoice['subtotal']}[/]",
            f"[bold]{invoice['tax']}[/]",
            end_section=True,
        )
    console.print(table)
