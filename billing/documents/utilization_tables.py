"""The utilisation report as CSV and as an Excel workbook (SPEC §15), rendering only.

CSV: UTF-8 with a BOM, one row per group then a `total` row, card-hours and rates as plain decimals.
Workbook: a summary sheet (the headline rates), one sheet per grouping (by model, node, day, tenant)
with numeric cells (card-hours `#,##0.00`, rates as percentages, idle value in CNY), and a chart
sheet: the day-by-day stacked card-hours and the allocation rate per model.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import IO

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

BOM = "\ufeff"
FIGURES = (
    "capacity",
    "reported",
    "down",
    "lit",
    "allocated",
    "busy",
    "dark",
    "lit_rate",
    "allocation_rate",
    "busy_rate",
    "idle_value",
)
TITLES = {
    "capacity": "Capacity card-h 在架",
    "reported": "Reported card-h 上报",
    "down": "Down card-h 故障",
    "lit": "Lit card-h 点亮",
    "allocated": "Allocated card-h 已售",
    "busy": "Busy card-h 忙",
    "dark": "Dark card-h 静默",
    "lit_rate": "Lit rate 点亮率",
    "allocation_rate": "Allocation rate 售出率",
    "busy_rate": "Busy rate 利用率",
    "idle_value": "Idle value CNY 闲置价值",
}
KEYS = {"model": "gpu_model", "node": "node", "day": "day", "tenant": "tenant_id"}
SHEETS = {"model": "By model", "node": "By node", "day": "By day", "tenant": "By tenant"}
HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
HEADER_FONT = Font(bold=True, color="FFFFFF")


def to_csv(report: dict) -> bytes:
    """One grouping as CSV: the key column, every figure, and a final `total` row."""
    key = KEYS[report["group_by"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period", "timezone", key, *FIGURES])
    for row in report["rows"]:
        writer.writerow(
            [
                report["period"],
                report["timezone"],
                row.get(key) or "",
                *(row[f] if row[f] is not None else "" for f in FIGURES),
            ]
        )
    writer.writerow(
        [
            report["period"],
            report["timezone"],
            "total",
            *(report["total"][f] if report["total"][f] is not None else "" for f in FIGURES),
        ]
    )
    return (BOM + out.getvalue()).encode("utf-8")


def _number(value: str | None):
    return None if value is None else float(Decimal(value))


def _grouping_sheet(book: Workbook, report: dict) -> None:
    sheet = book.create_sheet(SHEETS[report["group_by"]])
    key = KEYS[report["group_by"]]
    sheet.append([f"{SHEETS[report['group_by']]} — {report['period']} ({report['timezone']})"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([key, *(TITLES[f] for f in FIGURES)])
    for cell in sheet[2]:
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
    for row in [*report["rows"], {key: "Total 合计", **report["total"]}]:
        sheet.append([row.get(key) or "(none)", *(_number(row[f]) for f in FIGURES)])
    for r in sheet.iter_rows(min_row=3, min_col=2):
        for cell, name in zip(r, FIGURES, strict=True):
            cell.number_format = "0.0%" if name.endswith("_rate") else "#,##0.00"
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B3"
    sheet.column_dimensions["A"].width = 22
    for index in range(2, len(FIGURES) + 2):
        sheet.column_dimensions[get_column_letter(index)].width = 15


def _summary(book: Workbook, pack: dict) -> None:
    sheet = book.active
    sheet.title = "Summary"
    model = pack["reports"]["model"]
    total = model["total"]
    sheet.append([f"Fleet utilisation 算力利用 — {model['period']} ({model['timezone']})"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    for name in ("capacity", "lit", "allocated", "busy", "down", "dark"):
        sheet.append([TITLES[name], _number(total[name])])
        sheet.cell(sheet.max_row, 2).number_format = "#,##0.00"
    for name in ("lit_rate", "allocation_rate", "busy_rate"):
        sheet.append([TITLES[name], _number(total[name])])
        sheet.cell(sheet.max_row, 2).number_format = "0.0%"
    sheet.append([TITLES["idle_value"], _number(total["idle_value"])])
    sheet.cell(sheet.max_row, 2).number_format = "#,##0.00"
    if model["unpriced_models"]:
        sheet.append(["Models without a list price (idle value unknown)", ", ".join(model["unpriced_models"])])
    sheet.column_dimensions["A"].width = 44
    sheet.column_dimensions["B"].width = 20


STACK = (
    ("busy", "Busy 忙"),
    ("allocated_idle", "Allocated, not busy 已售未用"),
    ("lit_idle", "Lit, unsold 点亮未售"),
    ("down", "Down 故障"),
    ("dark", "Dark 静默"),
)
"""The five parts of capacity, bottom to top: they add up to the day's capacity."""


def stack_parts(row: dict) -> dict[str, float]:
    """A row's capacity split into busy, allocated-not-busy, lit-unsold, down and dark card-hours."""
    value = {name: _number(row[name]) or 0.0 for name in ("lit", "allocated", "busy", "down", "dark")}
    return {
        "busy": value["busy"],
        "allocated_idle": max(0.0, value["allocated"] - value["busy"]),
        "lit_idle": max(0.0, value["lit"] - value["allocated"]),
        "down": value["down"],
        "dark": value["dark"],
    }


def _charts(book: Workbook, pack: dict) -> None:
    data = book.create_sheet("Chart data")
    data.append(["day", *(title for _, title in STACK)])
    days = pack["reports"]["day"]["rows"]
    for row in days:
        parts = stack_parts(row)
        data.append([row["day"], *(round(parts[name], 2) for name, _ in STACK)])
    models = pack["reports"]["model"]["rows"]
    data.append([])
    first_model = data.max_row + 1
    data.append(["gpu_model", TITLES["lit_rate"], TITLES["allocation_rate"], TITLES["busy_rate"]])
    for row in models:
        data.append([row["gpu_model"], *(_number(row[f]) for f in ("lit_rate", "allocation_rate", "busy_rate"))])
    charts = book.create_chartsheet("Charts")
    stacked = BarChart()
    stacked.type, stacked.grouping, stacked.overlap = "col", "stacked", 100
    stacked.title = "Where the card-hours went, day by day 每日卡时去向"
    stacked.y_axis.title = "card-hours"
    stacked.add_data(
        Reference(data, min_col=2, max_col=len(STACK) + 1, min_row=1, max_row=len(days) + 1), titles_from_data=True
    )
    stacked.set_categories(Reference(data, min_col=1, min_row=2, max_row=len(days) + 1))
    stacked.anchor = "A1"
    charts.add_chart(stacked)
    if models:
        rates = BarChart()
        rates.type = "bar"
        rates.title = "Rates per model 各型号点亮率 / 售出率 / 利用率"
        rates.add_data(
            Reference(data, min_col=2, max_col=4, min_row=first_model, max_row=first_model + len(models)),
            titles_from_data=True,
        )
        rates.set_categories(Reference(data, min_col=1, min_row=first_model + 1, max_row=first_model + len(models)))
        rates.y_axis.number_format = "0%"
        data_sheet_chart = book.create_chartsheet("Rates")
        data_sheet_chart.add_chart(rates)


def write_workbook(out: IO[bytes], pack: dict) -> None:
    """The monthly operator pack: summary, a sheet per grouping, and a chart sheet."""
    book = Workbook()
    _summary(book, pack)
    for by in ("model", "node", "day", "tenant"):
        _grouping_sheet(book, pack["reports"][by])
    _charts(book, pack)
    book.save(out)
