"""``kashi report``: operator reports printed as rich tables or written to files (SPEC §15). Wiring only."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kashi.cli.common import DataDir, engine, settings_for

report_app = typer.Typer(help="Operator reports: fleet utilisation.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
FORMATS = ("table", "json", "csv", "xlsx", "png")
COLUMNS = (("capacity", "capacity"), ("lit", "lit"), ("allocated", "allocated"), ("busy", "busy"),
           ("down", "down"), ("dark", "dark"), ("lit_rate", "lit %"), ("allocation_rate", "sold %"),
           ("busy_rate", "busy %"), ("idle_value", "idle value CNY"))  # fmt: skip


def _fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _cell(name: str, value: str | None) -> str:
    if value is None:
        return "—"
    if name.endswith("_rate"):
        return f"{float(value) * 100:.1f}%"
    return f"{float(value):,.2f}" if name == "idle_value" else f"{float(value):,.1f}"


def _table(report: dict) -> Table:
    key = {"model": "gpu_model", "node": "node", "day": "day", "tenant": "tenant_id"}[report["group_by"]]
    table = Table(title=f"Fleet utilisation {report['period']} ({report['timezone']}), card-hours by {key}",
                  title_justify="left")  # fmt: skip
    table.add_column(key)
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for row in report["rows"]:
        table.add_row(row.get(key) or "(none)", *(_cell(name, row[name]) for name, _ in COLUMNS))
    table.add_section()
    table.add_row("[bold]total[/]", *(f"[bold]{_cell(name, report['total'][name])}[/]" for name, _ in COLUMNS))
    return table


@report_app.command("utilization")
def utilization(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM.")],
    group_by: Annotated[str, typer.Option("--group-by", help="model, node, tenant or day.")] = "model",
    format: Annotated[str, typer.Option("--format", help="table (printed), json, csv, xlsx or png.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (stdout if omitted; "
                                                                      "xlsx and png need one).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="The operator's IANA timezone.")] = "Asia/Shanghai",
    data_dir: DataDir = None,
) -> None:
    """Capacity, lit, allocated, busy, down and dark card-hours of the fleet for a month, with rates and
    the value of idle cards; xlsx is the monthly operator pack (a sheet per grouping, a chart sheet)."""
    from billing.core.periods import Period
    from billing.services import utilization as service
    from kashi.errors import ValidationFailed

    if format not in FORMATS:
        _fail(f"bad --format {format!r}: one of {', '.join(FORMATS)}", 2)
    if group_by not in service.GROUPS:
        _fail(f"bad --group-by {group_by!r}: one of {', '.join(service.GROUPS)}", 2)
    if format in ("xlsx", "png") and output is None:
        _fail(f"--format {format} needs --output FILE", 2)
    try:
        month = Period.parse(period)
        with engine(settings_for(data_dir)).connect() as conn:
            if format in ("xlsx", "png"):
                pack = service.pack(conn, month, tz=tz)
            else:
                report = service.report(conn, month, group_by, tz=tz)
    except ValidationFailed as exc:
        _fail(exc.details[0]["reason"] if exc.details else exc.message, 2)
    if format == "table":
        if output is None:
            out.print(_table(report))
            return
        body = Console(file=io.StringIO(), width=200, record=True)
        body.print(_table(report))
        data = body.export_text().encode("utf-8")
    elif format == "json":
        data = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    elif format == "csv":
        from billing.documents.utilization_tables import to_csv

        data = to_csv(report)
    elif format == "xlsx":
        from billing.documents.utilization_tables import write_workbook

        buffer = io.BytesIO()
        write_workbook(buffer, pack)
        data = buffer.getvalue()
    else:
        from billing.documents.utilization_png import render

        data = render(pack, "model" if group_by == "model" else "day")
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    partial = output.with_name(output.name + ".partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, output)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    err.print(f"wrote the {month} utilisation report to {output}", highlight=False)
