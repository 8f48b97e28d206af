"""``kashi report``: reports for finance and operators (SPEC §12). Wiring only.

``kashi report receivables [--as-of YYYY-MM-DD] [--format table|json|csv|xlsx] [-o FILE]`` prints the
aged receivables as a table (or JSON / CSV on stdout), or writes the format to FILE.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kashi.cli.common import DataDir, engine, fail, settings_for

report_app = typer.Typer(help="Reports for finance and operators.", no_args_is_help=True)


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
        console.print(_table(report, service.REPORT_COLUMNS, rows))
        return
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _table(report: dict, columns: tuple[str, ...], rows: list[list]) -> Table:
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
