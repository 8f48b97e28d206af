"""``kashi export``: the finance export and statements to files (SPEC §8, §10). Wiring only.

Each command validates its arguments, resolves the servers like the other commands (they must
run: ``kashi up``, or external URLs), and writes to ``FILE.partial`` first, renamed over ``FILE``
when complete, so an interrupted export never leaves a file that looks whole. Errors go to stderr
with a non-zero exit: 2 for a bad argument, 1 for an unknown tenant or an unwritable path.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kashi.cli.common import DataDir, engine, settings_for

export_app = typer.Typer(help="Export invoice lines and statements to files.", no_args_is_help=True)
err = Console(stderr=True)

PeriodOption = Annotated[str, typer.Option("--period", help="The billing period, YYYY-MM.")]
Output = Annotated[Path, typer.Option("--output", "-o", help="The file to write.")]


def _fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _period(text: str):
    from billing.core.periods import Period
    from kashi.errors import ValidationFailed

    try:
        return Period.parse(text)
    except ValidationFailed as exc:
        _fail(f"bad --period: {exc.details[0]['reason'] if exc.details else exc.message}", 2)


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        _fail(f"bad --format {value!r}: one of {', '.join(allowed)}", 2)
    return value


def _engine(data_dir: Path | None):
    return engine(settings_for(data_dir))


@contextmanager
def _writing(path: Path):
    """A binary file at ``path.partial``, renamed to ``path`` on success and removed on failure."""
    partial = path.with_name(path.name + ".partial")
    try:
        out = open(partial, "wb")  # noqa: SIM115 - closed below, before the rename
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror}")
    try:
        with out:
            yield out
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@export_app.command("invoice-lines")
def invoice_lines(
    period: PeriodOption,
    output: Output,
    format: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    data_dir: DataDir = None,
) -> None:
    """Every invoice line of a period, all tenants, with tax (CSV is UTF-8 with a BOM for Excel)."""
    from billing.services import exports

    month, format = _period(period), _choice(format, ("csv", "xlsx"))
    engine = _engine(data_dir)
    with engine.connect() as conn:
        total = exports.count_invoice_lines(conn, month)
        with _writing(output) as out, _progress() as progress:
            task = progress.add_task(f"invoice lines {month}", total=total)
            rows = exports.invoice_lines(conn, month)
            if format == "csv":
                from billing.documents import csv

                for chunk in csv.chunks([c.name for c in exports.INVOICE_LINE_COLUMNS], _counted(rows, progress, task)):
                    out.write(chunk)
            else:
                from billing.documents.xlsx import write_invoice_lines

                write_invoice_lines(out, rows, on_rows=lambda n: progress.advance(task, n))
    err.print(f"wrote {total:,} invoice lines of {month} to {output}", highlight=False)


def _counted(rows, progress: Progress, task, every: int = 10_000):
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending == every:
            progress.advance(task, pending)
            pending = 0
    progress.advance(task, pending)


@export_app.command("statement")
def statement(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant id.")],
    period: PeriodOption,
    output: Output,
    format: Annotated[str, typer.Option("--format", help="json, csv, xlsx or pdf.")] = "pdf",
    data_dir: DataDir = None,
) -> None:
    """A tenant's statement of account for a month: opening balance, the invoices billing the month,
    the credit notes and payments dated in it, closing balance."""
    from billing.services import statements
    from kashi.errors import NotFound

    month, format = _period(period), _choice(format, ("json", "csv", "xlsx", "pdf"))
    with _engine(data_dir).connect() as conn:
        try:
            document = statements.statement_json(conn, tenant, month)
        except NotFound:
            _fail(f"unknown tenant {tenant!r}")
    if format == "json":
        body = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        body = statements.render(document, format)
    with _writing(output) as out:
        out.write(body)
    err.print(f"wrote the {month} statement of {tenant} to {output}", highlight=False)
