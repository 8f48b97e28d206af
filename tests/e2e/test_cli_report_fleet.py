"""``kashi report utilization`` beside a running Kashi (SPEC §15): a table, and the xlsx operator pack."""

from __future__ import annotations

import os
import subprocess
import sys

import openpyxl

from tests.integration.billing_scenario import send
from tests.integration.fleet_kit import status

KASHI = [sys.executable, "-m", "kashi.cli"]


def run(kashi, *args: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}, "COLUMNS": "220"}
    return subprocess.run(
        [*KASHI, "report", "utilization", *args, "--data-dir", str(kashi.settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_table_pack_and_bad_arguments(kashi, uid, tmp_path):
    send(
        kashi,
        uid,
        [status(uid, "a", "2031-02-01T00:00:00+08:00", "2031-02-01T02:00:00+08:00", "idle", model=f"Z-{uid}")],
    )
    table = run(kashi, "--period", "2031-02", "--group-by", "model")
    assert table.returncode == 0, table.stderr
    assert f"Z-{uid}" in table.stdout and "total" in table.stdout
    pack = tmp_path / "pack.xlsx"
    written = run(kashi, "--period", "2031-02", "--format", "xlsx", "-o", str(pack))
    assert written.returncode == 0, written.stderr
    assert "Charts" in openpyxl.load_workbook(pack).sheetnames
    assert run(kashi, "--period", "2031-13").returncode == 2
    assert run(kashi, "--period", "2031-02", "--format", "png").returncode == 2
