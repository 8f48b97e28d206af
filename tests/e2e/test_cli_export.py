"""``kashi export`` as an operator runs it beside a running Kashi (SPEC §8, §10): files written,
clear errors with a non-zero exit for a bad period, an unknown tenant or an unwritable path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import openpyxl
import pytest

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
from billing.services.exports import INVOICE_LINE_COLUMNS
from tests.integration.billing_scenario import contract, sign

KASHI = [sys.executable, "-m", "kashi.cli"]
MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "7200.00",
}


def run(kashi, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    return subprocess.run(
        [*KASHI, "export", *args, "--data-dir", str(kashi.settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def closed_tenant(kashi, uid):
    tenant_id = f"t-{uid}-cli"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tenant_id, "name": "杭州云算"}, actor="test")
    sign(kashi, contract(f"c-{uid}", tenant_id, MACHINES))
    close_tenant(kashi.engine, tenant_id, Period(2026, 9))
    return tenant_id


def test_invoice_lines_to_csv_and_xlsx(kashi, closed_tenant, tmp_path):
    done = run(kashi, "invoice-lines", "--period", "2026-09", "--format", "csv", "-o", str(tmp_path / "lines.csv"))
    assert done.returncode == 0, done.stderr
    assert "invoice lines of 2026-09" in done.stderr
    raw = (tmp_path / "lines.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    (mine,) = [r for r in rows if r["tenant_id"] == closed_tenant]
    assert (mine["tenant_name"], mine["amount"], mine["tax"]) == ("杭州云算", "7200.00", "432.00")
    assert mine["total"] == "7632.00"
    done = run(kashi, "invoice-lines", "--period", "2026-09", "--format", "xlsx", "-o", str(tmp_path / "lines.xlsx"))
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(tmp_path / "lines.xlsx").active
    assert sheet.max_row == len(rows) + 1 and sheet[1][0].value == INVOICE_LINE_COLUMNS[0].title
    assert not list(tmp_path.glob("*.partial"))


def test_statement_json_matches_the_api_and_pdf_is_written(kashi, closed_tenant, tmp_path, operator_client):
    done = run(
        kashi,
        "statement",
        "--tenant",
        closed_tenant,
        "--period",
        "2026-09",
        "--format",
        "json",
        "-o",
        str(tmp_path / "s.json"),
    )
    assert done.returncode == 0, done.stderr
    api = operator_client.get(f"/v1/tenants/{closed_tenant}/statements/2026-09").json()
    written = json.loads((tmp_path / "s.json").read_text("utf-8"))
    assert written == api
    # The closed period's statement holds that period's invoice.
    assert [(i["period"], i["total"]) for i in written["invoices"]] == [("2026-09", "7632.00")]
    assert written["closing_balance"] == "7632.00"
    done = run(kashi, "statement", "--tenant", closed_tenant, "--period", "2026-10", "-o", str(tmp_path / "s.pdf"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")


def test_clear_errors_and_non_zero_exits(kashi, uid, closed_tenant, tmp_path):
    out = str(tmp_path / "x.csv")
    bad_period = run(kashi, "invoice-lines", "--period", "2026-13", "-o", out)
    assert bad_period.returncode == 2 and "bad --period" in bad_period.stderr and "no month 13" in bad_period.stderr
    bad_format = run(kashi, "statement", "--tenant", closed_tenant, "--period", "2026-10", "--format", "doc", "-o", out)
    assert bad_format.returncode == 2 and "bad --format" in bad_format.stderr
    unknown = run(kashi, "statement", "--tenant", f"nobody-{uid}", "--period", "2026-10", "-o", out)
    assert unknown.returncode == 1 and f"unknown tenant 'nobody-{uid}'" in unknown.stderr
    unwritable = run(kashi, "invoice-lines", "--period", "2026-09", "-o", str(tmp_path / "missing" / "x.csv"))
    assert unwritable.returncode == 1 and "cannot write" in unwritable.stderr
    assert "Traceback" not in unknown.stderr + unwritable.stderr
    assert list(tmp_path.iterdir()) == []
