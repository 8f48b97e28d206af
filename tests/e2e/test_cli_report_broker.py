"""``kashi report breach-risk`` and ``kashi report margin`` beside a running Kashi (SPEC §16, §17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from billing.services import catalog as catalog_service
from billing.services import contracts as contracts_service
from billing.services import market, tenants

KASHI = [sys.executable, "-m", "kashi.cli"]


def run(kashi, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    return subprocess.run(
        [*KASHI, "report", *args, "--data-dir", str(kashi.settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_breach_risk_table_json_and_file(kashi, uid, tmp_path):
    model, tenant_id, contract_id = f"RTX-4090-{uid}", f"t-{uid}", f"c-{uid}"
    with kashi.engine.begin() as conn:
        catalog_service.add(conn, {"name": model, "fp16_tflops": "165.2", "source": "test"}, actor="test")
        tenants.create(conn, {"id": tenant_id, "name": "深圳智算"}, actor="test")
        contracts_service.sign(
            conn,
            {
                "id": contract_id,
                "tenant_id": tenant_id,
                "start": "2026-01-01",
                "closed_months": 36,
                "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
                "items": [
                    {
                        "id": "i-1",
                        "pricing": "machine_month",
                        "gpu_model": model,
                        "machines": 60,
                        "unit_price": "5000.00",
                    }
                ],
            },
            actor="test",
        )
        market.record(
            conn,
            {
                "gpu_model": model,
                "unit": "machine_month",
                "price": "3500.00",
                "currency": "CNY",
                "observed_at": "2026-11-01T00:00:00+08:00",
                "source": "test",
            },
            actor="test",
        )
    table = run(kashi, "breach-risk", "--as-of", "2027-01-01")
    assert table.returncode == 0, table.stderr
    assert contract_id in table.stdout and "720,000.00" in table.stdout
    as_json = run(kashi, "breach-risk", "--as-of", "2027-01-01T00:00:00+08:00", "--format", "json")
    row = next(r for r in json.loads(as_json.stdout)["items"] if r["contract_id"] == contract_id)
    assert (row["saving_if_broken"], row["at_risk"], row["break_even_rate"]) == ("720000.00", True, "0.30")
    target = tmp_path / "risk.xlsx"
    written = run(kashi, "breach-risk", "--as-of", "2027-01-01", "--format", "xlsx", "-o", str(target))
    assert written.returncode == 0 and target.read_bytes()[:2] == b"PK"
    bad = run(kashi, "breach-risk", "--as-of", "yesterday")
    assert bad.returncode == 2 and "as-of" in bad.stderr


def test_margin_report_and_a_bad_period(kashi):
    ok = run(kashi, "margin", "--period", "2026-01", "--format", "csv")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].startswith("supplier_id,contract_id,item_id")
    bad = run(kashi, "margin", "--period", "2026-13")
    assert bad.returncode == 2 and "period" in bad.stderr
