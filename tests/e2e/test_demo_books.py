"""``kashi demo`` keeps its own books: an operator's data dir and servers are never touched by it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
KASHI = [sys.executable, "-m", "kashi.cli"]


def env_with_books(tmp_path) -> dict:
    """An environment that names real books three ways: the default dir, KASHI_DATA_DIR, external URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHI_")}
    return {
        **env,
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "KASHI_DATA_DIR": str(tmp_path / "books"),
        "KASHI_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/books",
        "KASHI_REDIS_URL": "redis://127.0.0.1:9/0",
        "TMPDIR": str(tmp_path / "tmp"),
    }


def test_demo_runs_in_its_own_temporary_books_and_says_what_its_tables_show(tmp_path):
    env = env_with_books(tmp_path)
    (tmp_path / "tmp").mkdir()
    done = subprocess.run([*KASHI, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert not (tmp_path / "books").exists() and not (tmp_path / "xdg").exists()
    demo_dir = re.search(r"keeps its own books in (\S+)", out)[1]
    assert demo_dir.startswith(str(tmp_path / "tmp" / "kashi-demo-"))
    assert "the demo's two simulated tenants (tenant-a, tenant-b)" in out
    assert re.search(
        r"numbered from KS-\d{4}-000002: these books held no invoice before this run, and the run "
        r"closed \d{4}-\d\d for one tenant first",
        out,
    ), out
    pdf = re.search(r"written as PDF: (\S+\.pdf)", out)[1]
    assert os.path.exists(pdf) and pdf.startswith(demo_dir)
    assert not os.path.exists(os.path.join(demo_dir, "pg")), "the demo's databases are removed unless --keep"


def test_demo_refuses_a_data_dir_holding_books_unless_into_books(tmp_path):
    books = tmp_path / "books"
    (books / "pg").mkdir(parents=True)
    (books / "pg" / "PG_VERSION").write_text("16\n")
    done = subprocess.run(
        [*KASHI, "demo", "--data-dir", str(books)],
        env=env_with_books(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--into-books" in " ".join(done.stderr.split())
    assert sorted(p.name for p in books.iterdir()) == ["pg"]
