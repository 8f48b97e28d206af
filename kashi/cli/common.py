"""What every ``kashi`` command shares: the one ``--data-dir`` option, settings, errors, servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kashi.settings import Settings

err = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", envvar="KASHI_DATA_DIR", help="Data directory of the embedded servers.")
]


def settings_for(data_dir: Path | None = None, **overrides) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def servers(settings: Settings, *, start: bool):
    """The servers of ``settings`` (started if ``start``), or exit 1 if they are not running."""
    from kashi.servers import ServersNotRunning, resolve

    try:
        return resolve(settings, start=start)
    except ServersNotRunning as exc:
        fail(str(exc))


def engine(settings: Settings, *, start: bool = False):
    """An engine on the database of ``settings``' servers."""
    from kashi.db import make_engine

    return make_engine(servers(settings, start=start).database_url)
