"""``kashi``: the command line (SPEC §10). Wiring only: each command resolves servers and calls a service.

One module per command group; this module only assembles them, in the order ``kashi --help`` lists them.
"""

from __future__ import annotations

import typer

from kashi.cli import agent, close, demo, export, ingest, keys, report, up

app = typer.Typer(
    help="Kashi (卡时): metering and billing for GPU compute rental.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys.keys_app, name="keys")
app.command()(up.migrate)
app.command()(up.up)
app.command()(up.api)
app.command()(up.worker)
app.command()(up.status)
app.command()(up.down)
app.command()(demo.demo)
app.command()(close.close)
app.command()(close.scheduler)
app.command()(close.replay)
agent.mount(app)
app.add_typer(export.export_app, name="export")
app.add_typer(report.report_app, name="report")
app.add_typer(ingest.ingest_app, name="ingest")


def main() -> None:
    app()
