"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis): whatever
a client sends, Kashi answers with a status it means, never a 500."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def test_no_request_derived_from_the_schema_gets_a_server_error(tmp_path):
    from billing.services import tenants
    from kashi.local import LocalKashi
    from kashi.settings import Settings

    # Its own servers: the fuzzer creates tenants and contracts and closes periods as an operator.
    kashi = LocalKashi(Settings(data_dir=tmp_path, database_url=None, redis_url=None)).start()
    try:
        with kashi.engine.begin() as conn:
            tenants.create(conn, {"id": "tenant-a", "name": "租户甲"}, actor="test")
        done = _fuzz(kashi.base_url, kashi.key("operator"))
    finally:
        kashi.stop()
    assert done.returncode == 0, done.stdout[-4000:]


def _fuzz(base_url: str, key: str) -> subprocess.CompletedProcess:
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    return subprocess.run(
        [
            st,
            "run",
            f"{base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--seed",
            "20261125",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
