"""``kashi up``, ``kashi api``, ``kashi worker``, ``kashi migrate``: run Kashi's processes (SPEC §10).

Wiring only: each command resolves the servers and starts a process or a service.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kashi.cli.common import DataDir, err, fail, settings_for
from kashi.cli.common import servers as _servers


def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (alembic)."""
    from kashi.migrate import upgrade

    settings = settings_for(data_dir)
    servers = _servers(settings, start=True)
    from kashi.db import make_engine

    upgrade(make_engine(servers.database_url))
    err.print("schema is up to date")


def up(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Serve the API on 127.0.0.1:PORT.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind the API to.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Leave every close to the operator.")] = False,
    api_processes: Annotated[int, typer.Option(min=1, help="API processes behind the one port (SO_REUSEPORT).")] = 1,
) -> None:
    """Run everything in the foreground: PostgreSQL, Valkey, migrations, API, workers, scheduler.

    One per data dir: a second is refused, naming the running one. Its children stop with it, even on SIGKILL."""
    from kashi import logs
    from kashi.instance import AlreadyRunning, PortTaken
    from kashi.supervisor import UpFailed, UpOptions, run_up

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    try:
        run_up(
            settings,
            UpOptions(host=host, port=port, workers=workers, scheduler=not no_scheduler, api_processes=api_processes),
            err,
        )
    except (AlreadyRunning, PortTaken) as exc:
        fail(str(exc))
    except UpFailed:
        raise typer.Exit(1) from None


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


def down(
    data_dir: DataDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it to stop.")] = 90,
) -> None:
    """Stop the `kashi up` of the data dir cleanly (or what a crashed one left running)."""
    from kashi.supervisor import down as stop_instance

    if not stop_instance(settings_for(data_dir).data_dir, timeout_s=timeout, out=err):
        raise typer.Exit(1)


def api(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    reuse_port: Annotated[
        bool, typer.Option("--reuse-port", help="Bind with SO_REUSEPORT, so several API processes share the port.")
    ] = False,
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
    if not reuse_port:
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
        return
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    uvicorn.run(application, fd=sock.fileno(), log_level="warning", access_log=False)


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
