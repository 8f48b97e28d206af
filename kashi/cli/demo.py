"""``kashi demo``: a day of simulated usage through the whole pipeline, on embedded servers."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from kashi.cli.common import DataDir, settings_for


def demo(
    data_dir: DataDir = None,
    gpus: Annotated[int, typer.Option(help="Simulated GPUs.")] = 16,
) -> None:
    """Start the embedded servers, send a realistic day of usage through the API, print the bill's basis."""
    from kashi.demo import run_demo

    run_demo(settings_for(data_dir), gpus=gpus, console=Console() if sys.stdout.isatty() else Console(width=160))

