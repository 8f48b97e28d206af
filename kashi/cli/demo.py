"""``kashi demo``: a day of simulated usage through the whole pipeline, in the demo's own books."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kashi.cli.common import fail, settings_for


def demo(
    demo_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the demo keeps its books: a new or empty directory, or one an earlier demo "
            "made (default: a fresh temporary directory). KASHI_DATA_DIR is ignored.",
        ),
    ] = None,
    into_books: Annotated[
        bool,
        typer.Option(
            "--into-books",
            help="Write the demo's tenants and invoices into real books instead: --data-dir, "
            "else KASHI_DATA_DIR / KASHI_DATABASE_URL / the default data dir. They stay there for good.",
        ),
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's databases (default: removed at the end).")
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
