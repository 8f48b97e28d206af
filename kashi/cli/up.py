"""``kashi up``, ``kashi api``, ``kashi worker``, ``kashi migrate``: run Kashi's processes (SPEC §10).

Wiring only: each command resolves the servers and starts a process or a service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from kashi.cli.common import DataDir, err, settings_for
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
) -> None:
    """Run everything in the foreground: PostgreSQL, Valkey, migrations, API, workers, scheduler."""
    from kashi import logs
    from kashi.db import make_engine
    from kashi.migrate import upgrade

    settings = settings_for(data_dir)
    logs.configure(settings.log_level)
    servers = _servers(settings, start=True)
    children: list[subprocess.Popen] = []
    stopping = failed = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        engine = make_engine(servers.database_url)
        upgrade(engine)
        engine.dispose()
        env = {**os.environ, "KASHI_DATABASE_URL": servers.database_url, "KASHI_REDIS_URL": servers.redis_url,
               "KASHI_DATA_DIR": str(settings.data_dir)}
        me = [sys.executable, "-m", "kashi.cli"]
        children.append(subprocess.Popen([*me, "api", "--host", host, "--port", str(port)], env=env))
        children.extend(subprocess.Popen([*me, "worker"], env=env) for _ in range(workers))
        if not no_scheduler and _has_scheduler():
            children.append(subprocess.Popen([*me, "scheduler"], env=env))
        healthy = False
        started = time.monotonic()
        while not stopping:
            if any(c.poll() is not None for c in children):
                failed = True
                err.print("[red]error:[/] a Kashi process exited; stopping (see the lines above)")
                break
            if not healthy and _healthy(host, port):
                healthy = True
                err.print(f"[green]Kashi is up[/] on http://{host}:{port} (data dir {settings.data_dir}, "
                          f"{time.monotonic() - started:.1f} s); Ctrl-C stops it")
                err.print(f"Console: http://{host}:{port}/console (sign in with a key from `kashi keys create`)")
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
        servers.stop()
        err.print("Kashi stopped")
    if failed:
        raise typer.Exit(1)


def _healthy(host: str, port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/healthz",
                         timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _has_scheduler() -> bool:
    import importlib.util

    return importlib.util.find_spec("workers.scheduler") is not None


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
