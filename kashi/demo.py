"""``kashi demo``: a realistic day of a GPU node, end to end on the embedded servers."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

from billing.services import tenants
from kashi import demo_billing
from kashi.local import LocalKashi
from kashi.settings import Settings
from metering.agent.simulate import expected_card_seconds, simulate_events
from metering.usage import card_hours, card_seconds_by_model

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_TENANTS = {"tenant-a": "深圳智算科技有限公司", "tenant-b": "Lumen Robotics"}


def run_demo(settings: Settings, *, gpus: int, console: Console) -> None:
    with console.status("starting PostgreSQL, Valkey, the API and a worker…"):
        kashi = LocalKashi(settings).start()
    try:
        with kashi.engine.begin() as conn:
            for tenant_id, name in DEMO_TENANTS.items():
                tenants.ensure(conn, tenant_id, name=name)
        source = "node/demo-1"
        agent_key = kashi.key("agent", source=source)
        day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        events = simulate_events(gpus=gpus, tenants=2, start=day, hours=24, seed=7, source=source,
                                 tenant_ids=list(DEMO_TENANTS), gpu_model="H100-SXM", token_events=200)
        console.print(f"sending {len(events)} events of {day:%Y-%m-%d} (Asia/Shanghai) from {gpus} GPUs, "
                      "with resends and overlapping intervals…")
        with httpx.Client(base_url=kashi.base_url, headers={"Authorization": f"Bearer {agent_key}"},
                          timeout=60) as client:
            for i in range(0, len(events), 500):
                answer = client.post("/v1/events", json=events[i:i + 500],
                                     headers={"Content-Type": "application/cloudevents-batch+json"})
                answer.raise_for_status()
            # An agent that lost its acknowledgement resends a whole batch: nothing changes.
            client.post("/v1/events", json=events[:500]).raise_for_status()
        kashi.join()
        expected = expected_card_seconds(events)
        table = Table(title="Card-hours rolled up per tenant and GPU model")
        for column in ("tenant", "name", "GPU model", "card-seconds", "card-hours", "expected"):
            table.add_column(column, justify="right" if column.startswith(("card", "exp")) else "left")
        with kashi.engine.connect() as conn:
            for tenant_id, model, seconds in card_seconds_by_model(conn):
                if tenant_id in DEMO_TENANTS:
                    want = expected.get((tenant_id, model), 0)
                    mark = "[green]✓[/]" if want == seconds else f"[red]{want}[/]"
                    table.add_row(tenant_id, DEMO_TENANTS[tenant_id], model, f"{seconds:,}", card_hours(seconds), mark)
        console.print(table)
        _extensions(kashi, console)
    finally:
        with console.status("stopping…"):
            kashi.stop()
    console.print("[green]demo finished[/]; all servers stopped")


def _extensions(kashi: LocalKashi, console: Console) -> None:
    """The billing part of the demo: contracts, the close, invoices."""
    demo_billing.run(kashi, console)
