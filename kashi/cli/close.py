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
    """Close an ended period on demand and print the invoice ids, one a line (the same ids when repeated);
    without --tenant, every supplier's bills of the period too (their ids follow the invoices')."""
    import os

    from billing.core.periods import Period
    from billing.services.close import close_period
    from billing.services.supplier_bills import close_suppliers
    from kashi.errors import KashiError

    engine = _engine(settings_for(data_dir), start=False)
    bills: list[str] = []
    try:
        ids = close_period(engine, Period.parse(period), tenant, processes=processes or min(4, os.cpu_count() or 1))
        if tenant is None:
            bills = close_suppliers(engine, Period.parse(period))
    except KashiError as exc:
        fail(exc.message)
    for document_id in [*ids, *bills]:
        typer.echo(document_id)
    err.print(f"period {period} closed: {len(ids)} invoice(s)" + (f", {len(bills)} supplier bill(s)" if bills else ""))


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
