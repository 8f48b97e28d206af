"""``kashi report receivables`` beside a running Kashi: a table on stdout, JSON, CSV and xlsx files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl

from billing.core.periods import Period
from billing.services import tenants
from billing.services.close import close_tenant
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
        [*KASHI, "report", "receivables", *args, "--data-dir", str(kashi.settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_receivables_as_a_table_json_csv_and_xlsx(kashi, uid, tmp_path):
    tenant_id = f"t-{uid}-report"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tenant_id, "name": "杭州云算"}, actor="test")
    sign(kashi, contract(f"c-{uid}", tenant_id, MACHINES))
    close_tenant(
        kashi.engine, tenant_id, Period(2026, 9), now=datetime(2026, 10, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    table = run(kashi, "--as-of", "2026-11-15")
    assert table.returncode == 0, table.stderr
    assert "Aged receivables as of 2026-11-15" in table.stdout and tenant_id in table.stdout
    assert "7,632.00" in table.stdout
    done = run(kashi, "--as-of", "2026-11-15", "--format", "json")
    (row,) = [r for r in json.loads(done.stdout)["items"] if r["tenant_id"] == tenant_id]
    assert row["1_30"] == "7632.00" and row["total_due"] == "7632.00"
    assert run(kashi, "--as-of", "2026-11-15", "--format", "csv", "-o", str(tmp_path / "r.csv")).returncode == 0
    assert f"{tenant_id},杭州云算,CNY,0.00,7632.00" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert run(kashi, "--as-of", "2026-11-15", "--format", "xlsx", "-o", str(tmp_path / "r.xlsx")).returncode == 0
    assert any(
        r[0] == tenant_id for r in openpyxl.load_workbook(tmp_path / "r.xlsx").active.iter_rows(values_only=True)
    )
    bad = run(kashi, "--as-of", "15/11/2026")
    assert bad.returncode == 2 and "--as-of" in bad.stderr
