"""``kashi demo``: a realistic day of a GPU node, end to end on the embedded servers.

The demo keeps its own books. Issued invoices never change and their numbers are gapless, so a
demo run in an operator's data dir would leave its tenants there for good and make the first real
invoice number 11. By default it runs in a fresh temporary directory (named in its output, its
databases removed at the end unless ``--keep``); ``--data-dir`` names a new or empty directory, or
one an earlier demo made; only ``--into-books`` lets it write into real books.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

from billing.services import tenants
from kashi import demo_billing, demo_broker
from kashi.local import LocalKashi
from kashi.settings import Settings
from metering.agent.simulate import expected_card_seconds, simulate_events
from metering.usage import card_hours, card_seconds_by_model

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_TENANTS = {"tenant-a": "深圳智算科技有限公司", "tenant-b": "Lumen Robotics"}
MARKER = "KASHI-DEMO"
"""A file in every directory the demo made: it may run there again, and remove its databases."""


class DemoRefused(RuntimeError):
    """The chosen directory holds books that are not a demo's."""


def demo_settings(demo_dir: Path | None) -> Settings:
    """Settings on the demo's own embedded servers: ``demo_dir`` (new, empty or an earlier demo's) or
    a fresh temporary directory. ``KASHI_DATA_DIR``, ``KASHI_DATABASE_URL`` and ``KASHI_REDIS_URL`` are
    ignored: they name the books the demo must not touch."""
    if demo_dir is None:
        demo_dir = Path(tempfile.mkdtemp(prefix="kashi-demo-"))
    demo_dir = demo_dir.expanduser().resolve()
    if demo_dir.exists() and any(demo_dir.iterdir()) and not (demo_dir / MARKER).exists():
        raise DemoRefused(
            f"{demo_dir} is not empty and no demo made it: the demo's tenants and invoices would "
            "stay in its books for good (issued invoices never change, numbers are gapless). "
            "Leave out --data-dir for a temporary directory, or pass --into-books to write there anyway"
        )
    demo_dir.mkdir(parents=True, exist_ok=True)
    (demo_dir / MARKER).write_text("Made by `kashi demo`: demo tenants and invoices only; safe to delete.\n")
    return Settings(data_dir=demo_dir, database_url=None, redis_url=None)


def remove_databases(demo_dir: Path) -> None:
    """Remove the demo's PostgreSQL and Valkey data, keeping what it wrote for a person (the PDF)."""
    if not (demo_dir / MARKER).exists():
        return
    for name in ("pg", "pg.initdb", "valkey"):
        shutil.rmtree(demo_dir / name, ignore_errors=True)
    for name in ("pg.port", "kashi-up.lock", "kashi-up.json"):
        (demo_dir / name).unlink(missing_ok=True)


def run_demo(settings: Settings, *, gpus: int, console: Console, own_books: bool = True, keep: bool = False) -> None:
    """Run the demo on ``settings``; ``own_books`` says they are the demo's (from :func:`demo_settings`),
    so it holds the data dir's lock while it runs and, unless ``keep``, removes the databases after."""
    from kashi.instance import DataDirLock, Instance, new_instance_id, now_text

    lock = None
    if own_books:
        lock = DataDirLock(settings.data_dir)
        lock.acquire(wait_s=5)  # AlreadyRunning: another demo or a `kashi up` uses this directory
        lock.write_state(
            Instance(pid=os.getpid(), url="", instance_id=new_instance_id(), started_at=now_text(), kind="demo")
        )
        console.print(
            f"the demo keeps its own books in [bold]{settings.data_dir}[/] (no other data dir or server is touched)"
        )
    else:
        console.print(
            f"[yellow]--into-books:[/] the demo writes its tenants and invoices into the books of "
            f"{settings.database_url or settings.data_dir}; they stay there for good"
        )
    try:
        _run(settings, gpus=gpus, console=console, own_books=own_books)
    finally:
        if lock is not None:
            lock.release()
            if keep:
                console.print(
                    f"kept: [bold]{settings.data_dir}[/] ('kashi up --data-dir {settings.data_dir}' serves it again)"
                )
            else:
                remove_databases(settings.data_dir)
                console.print(f"removed the demo's databases; what it wrote for you stays in {settings.data_dir}")


def _run(settings: Settings, *, gpus: int, console: Console, own_books: bool) -> None:
    with console.status("starting PostgreSQL, Valkey, the API and a worker…"):
        kashi = LocalKashi(settings).start()
    try:
        with kashi.engine.begin() as conn:
            for tenant_id, name in DEMO_TENANTS.items():
                tenants.ensure(conn, tenant_id, name=name)
        source = "node/demo-1"
        agent_key = kashi.key("agent", source=source)
        day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        events = simulate_events(
            gpus=gpus,
            tenants=2,
            start=day,
            hours=24,
            seed=7,
            source=source,
            tenant_ids=list(DEMO_TENANTS),
            gpu_model="H100-SXM",
            token_events=200,
        )
        console.print(
            f"sending {len(events)} events of {day:%Y-%m-%d} (Asia/Shanghai) from {gpus} GPUs, "
            "with resends and overlapping intervals…"
        )
        with httpx.Client(
            base_url=kashi.base_url, headers={"Authorization": f"Bearer {agent_key}"}, timeout=60
        ) as client:
            for i in range(0, len(events), 500):
                answer = client.post(
                    "/v1/events",
                    json=events[i : i + 500],
                    headers={"Content-Type": "application/cloudevents-batch+json"},
                )
                answer.raise_for_status()
            # An agent that lost its acknowledgement resends a whole batch: nothing changes.
            client.post("/v1/events", json=events[:500]).raise_for_status()
        kashi.join()
        expected = expected_card_seconds(events)
        where = "this demo's own books" if own_books else "the books it was told to use (--into-books)"
        table = Table(
            title="Card-hours rolled up per tenant and GPU model",
            caption=f"the demo's two simulated tenants ({', '.join(DEMO_TENANTS)}), on {day:%Y-%m-%d}, "
            f"in {where}; expected: the card-seconds the simulator generated",
        )
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
    """The billing part of the demo: contracts, the close, invoices; then the broker's books."""
    demo_billing.run(kashi, console)
    demo_broker.run(kashi, console)
