"""``kashi``: the command line (SPEC §10). Wiring only: each command resolves servers and calls a service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kashi.settings import Settings

app = typer.Typer(help="Kashi (卡时): metering and billing for GPU compute rental.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", envvar="KASHI_DATA_DIR",
                                               help="Data directory of the embedded servers.")]


def settings_for(data_dir: Path | None = None, **overrides) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _servers(settings: Settings, *, start: bool):
    from kashi.servers import ServersNotRunning, resolve

    try:
        return resolve(settings, start=start)
    except ServersNotRunning as exc:
        fail(str(exc))


def _engine(settings: Settings, *, start: bool = False):
    from kashi.db import make_engine

    return make_engine(_servers(settings, start=start).database_url)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (alembic)."""
    from kashi.migrate import upgrade

    settings = settings_for(data_dir)
    servers = _servers(settings, start=True)
    from kashi.db import make_engine

    upgrade(make_engine(servers.database_url))
    err.print("schema is up to date")


@app.command()
def up(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Serve the API on 127.0.0.1:PORT.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind the API to.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Leave every close to the operator.")] = False,
) -> None:
    """Run everything in the foreground: PostgreSQL, Valkey, migrations, API, workers, scheduler.

    One per data dir: a second is refused, naming the running one. Its children stop with it, even on SIGKILL."""
    from kashi import logs
    from kashi.instance import AlreadyRunning, PortTaken
    from kashi.supervisor import UpFailed, UpOptions, run_up

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    try:
        run_up(settings, UpOptions(host=host, port=port, workers=workers, scheduler=not no_scheduler), err)
    except (AlreadyRunning, PortTaken) as exc:
        fail(str(exc))
    except UpFailed:
        raise typer.Exit(1) from None


@app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Whether a `kashi up` runs for the data dir: its pid, URL, children, servers and health.

    Exit 0 when one runs, 3 when none does."""
    import json

    from kashi.supervisor import print_status
    from kashi.supervisor import status as instance_status

    report = instance_status(settings_for(data_dir).data_dir)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_status(report, Console())
    if not report["running"]:
        raise typer.Exit(3)


@app.command()
def down(
    data_dir: DataDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it to stop.")] = 90,
) -> None:
    """Stop the `kashi up` of the data dir cleanly (or what a crashed one left running)."""
    from kashi.supervisor import down as stop_instance

    if not stop_instance(settings_for(data_dir).data_dir, timeout_s=timeout, out=err):
        raise typer.Exit(1)


@app.command()
def api(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Serve the HTTP API (uvicorn) against the configured servers."""
    import uvicorn

    from kashi import logs
    from kashi.api.app import create_app
    from kashi.runtime import tune_gc

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    servers = _servers(settings, start=False)
    application = create_app(settings, database_url=servers.database_url, redis_url=servers.redis_url)
    tune_gc()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run one worker process (dramatiq) until SIGINT/SIGTERM."""
    from kashi import logs
    from kashi.runtime import tune_gc
    from workers.run import run_forever

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    servers = _servers(settings, start=False)
    tune_gc()
    run_forever(settings, servers.database_url, servers.redis_url)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="operator, finance, tenant or agent.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant of a tenant key.")] = None,
    source: Annotated[str | None, typer.Option(help="The CloudEvents source an agent key may send.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print it alone on stdout (it is shown only this once)."""
    from billing.errors import KashiError
    from kashi.keys import create_key

    engine = _engine(settings_for(data_dir), start=False)
    try:
        with engine.begin() as conn:
            key = create_key(conn, role, tenant_id=tenant, source=source)
    except KashiError as exc:
        fail("; ".join(f"{d['field']}: {d['reason']}" for d in exc.details) or exc.message)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key by its id (the part after ``ks_``)."""
    from kashi.keys import revoke_key

    with _engine(settings_for(data_dir)).begin() as conn:
        if not revoke_key(conn, key_id):
            fail(f"no live key with id {key_id}")
    err.print(f"key {key_id} revoked")


@app.command()
def demo(
    demo_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where the demo keeps its books: a new or empty directory, or one an earlier demo "
        "made (default: a fresh temporary directory). KASHI_DATA_DIR is ignored.")] = None,
    into_books: Annotated[bool, typer.Option(
        "--into-books", help="Write the demo's tenants and invoices into real books instead: --data-dir, "
        "else KASHI_DATA_DIR / KASHI_DATABASE_URL / the default data dir. They stay there for good.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo's databases (default: removed at the end).")
                    ] = False,
    gpus: Annotated[int, typer.Option(help="Simulated GPUs.")] = 16,
) -> None:
    """Send a realistic day of usage and a month of contracts through the API and print the bill's basis,
    in the demo's own temporary books unless --into-books."""
    from kashi.demo import DemoRefused, demo_settings, run_demo
    from kashi.instance import AlreadyRunning

    console = Console() if sys.stdout.isatty() else Console(width=160)
    try:
        settings = settings_for(demo_dir) if into_books else demo_settings(demo_dir)
        run_demo(settings, gpus=gpus, console=console, own_books=not into_books, keep=keep)
    except (DemoRefused, AlreadyRunning) as exc:
        fail(str(exc))


def _mount_optional() -> None:
    """Sub-commands whose modules may be absent from a slim install (the agent extra)."""
    try:
        from metering.agent.cli import app as agent_app
    except ImportError:
        return
    app.add_typer(agent_app, name="agent", help="The node agent: collect GPU and token usage and send it.")


from kashi.cli_billing import register  # noqa: E402

register(app)
_mount_optional()
from kashi.cli_export import register as register_export; register_export(app)  # noqa: E402, E702, I001


def main() -> None:
    app()


if __name__ == "__main__":
    main()
