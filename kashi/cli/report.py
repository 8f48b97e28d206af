"""``kashi report``: reports for finance, operators and brokers in the terminal or to a file. Wiring only.

``kashi report receivables`` (aged receivables), ``breach-risk --as-of …``, ``margin --period …`` and
``utilization --period …`` print a rich table by default; ``--format json|csv|xlsx`` with ``-o FILE``
writes that format instead. Errors go to stderr with a non-zero exit: 2 for a bad argument, 1 when the
servers are not running.
"""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kashi.cli.common import DataDir, engine, err, fail, settings_for

report_app = typer.Typer(help="Reports: receivables, breach risk, margin, fleet utilisation.", no_args_is_help=True)
Format = Annotated[str, typer.Option("--format", help="table (the terminal), json, csv or xlsx.")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of the terminal.")]


def breach_table(document: dict) -> Table:
    """The breach-risk report as a rich table: at-risk rows in bold red, largest saving first."""
    table = Table(title=f"Breach risk as of {document['as_of']} — {document['at_risk']} contract(s) at risk")
    for column in (
        "contract",
        "tenant",
        "term",
        "RCV",
        "market",
        "drop",
        "penalty",
        "saving if broken",
        "break-even",
        "at risk",
        "note",
    ):
        table.add_column(
            column,
            justify="right"
            if column in ("RCV", "market", "drop", "penalty", "saving if broken", "break-even")
            else "left",
            overflow="fold",
        )
    for row in document["items"]:
        style = "bold red" if row["at_risk"] else None
        table.add_row(
            row["contract_id"],
            row["tenant_id"],
            row["term"],
            _money(row["remaining_closed_value"]),
            _money(row["market_value"]),
            row["drop"] or "—",
            _money(row["penalty"]),
            _money(row["saving_if_broken"]),
            row["break_even_rate"] or "—",
            "yes" if row["at_risk"] else "no",
            row["note"],
            style=style,
        )
    return table


def margin_table(document: dict) -> Table:
    """The margin report as a rich table, one row per payable item and a total per currency."""
    table = Table(title=f"Margin of {document['period']} (per payable item)")
    for column in (
        "supplier",
        "payable item",
        "model",
        "cost",
        "revenue",
        "margin",
        "rate",
        "bought",
        "resold",
        "exposure",
    ):
        table.add_column(column, justify="left" if column in ("supplier", "payable item", "model") else "right")
    for row in document["items"]:
        table.add_row(
            row["supplier_id"],
            f"{row['contract_id']}/{row['item_id']}",
            row["gpu_model"] or "—",
            _money(row["cost"]),
            _money(row["revenue"]),
            _money(row["margin"]),
            row["margin_rate"] or "—",
            row["machines_bought"],
            row["machines_resold"],
            _money(row["exposure"]),
        )
    for currency, total in document["totals"].items():
        table.add_row(
            f"[bold]total {currency}[/]",
            "",
            "",
            _money(total["cost"]),
            _money(total["revenue"]),
            _money(total["margin"]),
            "",
            "",
            "",
            _money(total["exposure"]),
            end_section=True,
        )
    return table


def _money(value: str | None) -> str:
    """ "1440000.00" → "1,440,000.00", as on the documents."""
    return "—" if value is None else f"{Decimal(value):,.2f}"


def _emit(
    document: dict, table: Table, format: str, output: Path | None, title: str, columns, rows, money, rates
) -> None:
    from billing.documents.report import csv_bytes, xlsx_bytes

    if format not in ("table", "json", "csv", "xlsx"):
        fail(f"bad --format {format!r}: one of table, json, csv, xlsx", 2)
    if format == "table" and output is None:
        Console(width=None if sys.stdout.isatty() else 200).print(table)  # a pipe gets whole rows
        return
    if format == "xlsx" and output is None:
        fail("--format xlsx needs -o FILE", 2)
    if format == "json":
        body = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
    elif format == "xlsx":
        body = xlsx_bytes(title, columns, rows, money=money, rates=rates)
    else:
        body = csv_bytes(columns, rows)
    if output is None:
        typer.echo(body.decode("utf-8-sig"), nl=False)
        return
    try:
        output.write_bytes(body)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    err.print(f"wrote {title.lower()} to {output}", highlight=False)


@report_app.command("breach-risk")
def breach_risk(
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 instant or YYYY-MM-DD (default: now).")] = None,
    format: Format = "table",
    output: Output = None,
    data_dir: DataDir = None,
) -> None:
    """Contracts a falling market makes cheaper to break than to keep, largest saving first."""
    from billing.services import risk
    from kashi.errors import KashiError

    try:
        instant = risk.parse_as_of(as_of)
    except KashiError as exc:
        fail(f"bad --as-of: {exc.message}", 2)
    with engine(settings_for(data_dir)).connect() as conn:
        document = risk.report_json(conn, instant)
    _emit(
        document,
        breach_table(document),
        format,
        output,
        "Breach risk",
        risk.COLUMNS,
        risk.table(document),
        ("rmv", "remaining_closed_value", "market_value", "penalty", "saving_if_broken", "notice_cost"),
        ("drop", "break_even_rate"),
    )


@report_app.command("margin")
def margin(
    period: Annotated[str, typer.Option("--period", help="The billing period, YYYY-MM.")],
    format: Format = "table",
    output: Output = None,
    data_dir: DataDir = None,
) -> None:
    """Per payable item: cost, revenue of the tenant items it supplies, margin, machines, exposure."""
    from billing.core.periods import Period
    from billing.services import margin as margin_service
    from kashi.errors import KashiError

    try:
        month = Period.parse(period)
    except KashiError as exc:
        fail(f"bad --period: {exc.message}", 2)
    with engine(settings_for(data_dir)).connect() as conn:
        document = margin_service.report_json(conn, month)
    _emit(
        document,
        margin_table(document),
        format,
        output,
        "Margin",
        margin_service.COLUMNS,
        margin_service.table(document),
        ("cost", "revenue", "margin", "exposure"),
        ("margin_rate",),
    )


@report_app.command("receivables")
def receivables(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day to age at, YYYY-MM-DD; default today.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json, csv or xlsx.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Aged receivables per tenant and currency: current, 1–30, 31–60, 61–90, over 90 days past due."""
    from billing.services import receivables as service

    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        fail(f"bad --as-of {as_of!r}: YYYY-MM-DD", 2)
    if format not in ("table", "json", "csv", "xlsx"):
        fail(f"bad --format {format!r}: one of table, json, csv, xlsx", 2)
    if format == "xlsx" and output is None:
        fail("--format xlsx needs --output FILE", 2)
    with engine(settings_for(data_dir)).connect() as conn:
        report = service.report(conn, day)
    rows = service.report_rows(report)
    if format == "table":
        text = None
    elif format == "json":
        text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    elif format == "csv":
        from billing.documents import csv

        text = b"".join(csv.chunks(service.REPORT_COLUMNS, rows)).decode("utf-8")
    if format == "xlsx":
        from billing.documents.xlsx import receivables_workbook

        output.write_bytes(receivables_workbook(report, service.REPORT_COLUMNS, rows))
        return
    if text is None:
        console = Console(file=output.open("w", encoding="utf-8") if output else sys.stdout, width=160)
        console.print(receivables_table(report, service.REPORT_COLUMNS, rows))
        return
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def receivables_table(report: dict, columns: tuple[str, ...], rows: list[list]) -> Table:
    from billing.documents.style import money

    text_columns = ("tenant_id", "tenant_name", "currency")
    table = Table(title=f"Aged receivables as of {report['as_of']} (应收账款账龄)")
    for column in columns:
        table.add_column(column, justify="left" if column in text_columns else "right")
    for row in rows:
        cells = [v if c in text_columns else money(v) for c, v in zip(columns, row, strict=True)]
        if row[0] == "TOTAL":
            cells = [f"[bold]{c}[/]" for c in cells]
        table.add_row(*cells)
    return table


out = Console()
FORMATS = ("table", "json", "csv", "xlsx", "png")
COLUMNS = (
    ("capacity", "capacity"),
    ("lit", "lit"),
    ("allocated", "allocated"),
    ("busy", "busy"),
    ("down", "down"),
    ("dark", "dark"),
    ("lit_rate", "lit %"),
    ("allocation_rate", "sold %"),
    ("busy_rate", "busy %"),
    ("idle_value", "idle value CNY"),
)


def _fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _cell(name: str, value: str | None) -> str:
    if value is None:
        return "—"
    if name.endswith("_rate"):
        return f"{float(value) * 100:.1f}%"
    return f"{float(value):,.2f}" if name == "idle_value" else f"{float(value):,.1f}"


def _utilization_table(report: dict) -> Table:
    key = {"model": "gpu_model", "node": "node", "day": "day", "tenant": "tenant_id"}[report["group_by"]]
    table = Table(
        title=f"Fleet utilisation {report['period']} ({report['timezone']}), card-hours by {key}", title_justify="left"
    )
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
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (stdout if omitted; xlsx and png need one)."),
    ] = None,
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
            out.print(_utilization_table(report))
            return
        body = Console(file=io.StringIO(), width=200, record=True)
        body.print(_utilization_table(report))
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
