"""`kashi close`, `kashi scheduler`, `kashi replay`: wiring only, each resolves servers and calls a service."""

from __future__ import annotations

from typing import Annotated

import typer

from kashi.cli.common import DataDir as DataDirOption
from kashi.cli.common import engine as _engine
from kashi.cli.common import err, fail, settings_for
from kashi.cli.common import servers as _servers


def close(
    period: Annotated[str, typer.Argument(help="The billing period, YYYY-MM.")],
    tenant: Annotated[str | None, typer.Option(help="Close for this tenant only (default: every tenant).")] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes closing chunks of tenants (every tenant; default: one per CPU, at most 4).",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Close an ended period on demand and print the invoice ids, one a line (the same ids when repeated).

    The close first waits (up to KASHI_CLOSE_DRAIN_TIMEOUT_S, 60 s) for every batch the API acknowledged
    before it began; if one is parked or not recorded in time, it issues nothing and names the batches.
    It says when the period was already closed (and with which invoices), and when late usage of the
    period is waiting for the tenant's next invoice. Without --tenant, every supplier's bills of the
    period are closed too (their ids follow the invoices')."""
    import os

    import redis

    from billing.core.periods import Period, instant_to_json
    from billing.services.close import close_period
    from billing.services.late_usage import late_usage
    from billing.services.supplier_bills import close_suppliers
    from billing.store.closes import closes_of
    from kashi.db import make_engine
    from kashi.errors import KashiError
    from metering.receipts import Receipts

    settings = settings_for(data_dir)
    found = _servers(settings, start=False)
    engine = make_engine(found.database_url)
    receipts = Receipts(redis.Redis.from_url(found.redis_url), settings.queue_namespace)
    bills: list[str] = []
    try:
        wanted = Period.parse(period)
        with engine.connect() as conn:
            before = {row.tenant_id: row for row in closes_of(conn, wanted, tenant)}
        ids = close_period(
            engine,
            wanted,
            tenant,
            receipts=receipts,
            drain_timeout_s=settings.close_drain_timeout_s,
            processes=processes or min(4, os.cpu_count() or 1),
        )
        if tenant is None:
            bills = close_suppliers(engine, wanted)
        with engine.connect() as conn:
            after = closes_of(conn, wanted, tenant)
            closed = {row.tenant_id for row in after}
            late = [item for item in late_usage(conn, tenant, wanted) if item["tenant_id"] in closed]
    except KashiError as exc:
        for detail in exc.details:
            if "batch_id" in detail:
                err.print(f"  batch {detail['batch_id']}: {detail['status']}: {detail['reason']}", soft_wrap=True)
        fail(exc.message)
    for document_id in [*ids, *bills]:
        typer.echo(document_id)
    for tenant_id, row in before.items():
        invoices = ", ".join(row.invoice_ids) or "none"
        err.print(
            f"period {period} was already closed for {tenant_id} at {instant_to_json(row.closed_at)}: "
            f"invoice(s) {invoices} (closing again issues nothing new)",
            soft_wrap=True,
        )
    issued = len([row for row in after if row.tenant_id not in before])
    err.print(
        f"period {period} closed: {len(ids)} invoice(s)"
        + (f", {issued} tenant(s) closed now" if before else "")
        + (f", {len(bills)} supplier bill(s)" if bills else ""),
        soft_wrap=True,
    )
    for item in late:
        err.print(
            f"late usage of {item['period']} for {item['tenant_id']} waits for the next invoice: "
            f"{item['card_hours']} card-hours, {item['tokens']} tokens ({item['events']} events), "
            f"billed as adjustment lines at the tenant's next close (GET /v1/usage/late?tenant_id="
            f"{item['tenant_id']})",
            soft_wrap=True,
        )


def scheduler(data_dir: DataDirOption = None) -> None:
    """Close each tenant's most recent ended period once period end + grace has passed (until SIGTERM)."""
    from kashi import logs
    from workers.scheduler import run_forever

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    servers = _servers(settings, start=False)
    run_forever(settings, servers.database_url, servers.redis_url)


def replay(
    verify: Annotated[bool, typer.Option("--verify", help="Rebuild into a scratch schema and compare.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Rebuild every projection from the stored events (in place), or with --verify compare a rebuild and
    every re-assembled invoice with what is stored: exit 0 only if identical."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from billing.services.replay import log_top, rebuild_in_place, verify_all

    engine = _engine(settings_for(data_dir), start=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("verifying: log seq" if verify else "rebuilding: log seq", total=log_top(engine) or None)

        def advance(_events: int, seq: int) -> None:
            bar.update(task, completed=seq)

        if not verify:
            counts = rebuild_in_place(engine, advance)
        else:
            differences = verify_all(engine, advance)
    if not verify:
        err.print("rebuilt: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
        return
    for difference in differences:
        typer.echo(difference)
    if differences:
        err.print(f"[bold red]{len(differences)} difference(s)[/]")
        raise typer.Exit(1)
    err.print("[green]replay reproduces every projection and every issued invoice[/]")
