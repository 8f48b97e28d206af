"""`kashi agent` commands and the agent.toml loader."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metering.agent.cli import app
from metering.agent.config import ConfigError, load_config
from metering.agent.simulate import expected_card_seconds

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_agent_logger():
    logger = logging.getLogger("kashi.agent")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


def test_simulate_writes_a_json_array(tmp_path):
    out = tmp_path / "events.json"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--gpus",
            "4",
            "--tenants",
            "2",
            "--hours",
            "3",
            "--start",
            "2026-10-01T00:00:00+08:00",
            "--seed",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    events = json.loads(out.read_text())
    assert events and all(e["source"] == "node/sim-1" for e in events)
    assert events[0]["time"].endswith("+08:00")


def test_simulate_prints_to_stdout_and_accepts_a_naive_start_in_shanghai():
    result = runner.invoke(app, ["simulate", "--gpus", "2", "--hours", "2", "--start", "2026-10-01T00:00:00"])
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout.splitlines()[0])
    assert all(e["data"]["start"].endswith("+08:00") for e in events)


def test_simulate_sends_to_a_server(http_server):
    result = runner.invoke(
        app,
        [
            "simulate",
            "--gpus",
            "3",
            "--hours",
            "4",
            "--start",
            "2026-10-01T00:00:00Z",
            "--token-events",
            "5",
            "--server",
            http_server.url,
            "--key",
            "k1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert http_server.requests[0]["content_type"] == "application/cloudevents-batch+json"
    assert http_server.requests[0]["auth"] == "Bearer k1"
    assert sum(1 for e in http_server.accepted if e["type"] == "llm.tokens") == 5
    assert expected_card_seconds(http_server.accepted)


def _config(tmp_path, server_url, leases, **extra):
    path = tmp_path / "agent.toml"
    lines = [
        'source = "node/n9"',
        'timezone = "Asia/Shanghai"',
        "window_seconds = 1",
        "sample_seconds = 0.2",
        f'server = "{server_url}"',
        'key = "k"',
        "[gpu]",
        'collector = "dcgm"',
        f'url = "{server_url}/metrics"',
        "[allocation]",
        f'leases_file = "{leases}"',
        "[spool]",
        f'dir = "{tmp_path / "spool"}"',
        "[metrics]",
        "port = 0",
        "[models]",
        '"NVIDIA H100 80GB HBM3" = "H100-SXM-80G"',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_once_dry_run_prints_one_window_and_spools_nothing(tmp_path, http_server):
    from .conftest import fixture_text

    http_server.pages["/metrics"] = lambda: fixture_text("dcgm-exporter-4.1-k8s-hostname.prom")
    leases = tmp_path / "leases.json"
    leases.write_text(json.dumps({"GPU-5f3c2a1e-8b7d-4c6a-9e2f-1a0b3c4d5e6f": "tenant-a"}))
    result = runner.invoke(
        app, ["run", "--config", str(_config(tmp_path, http_server.url, leases)), "--once", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    events = [e for e in printed if e["type"] == "gpu.usage"]
    assert len(events) == 1
    assert sum(e["type"] == "gpu.status" for e in printed) == 8  # every GPU seen, held or idle
    assert events[0]["subject"] == "tenant-a" and events[0]["data"]["gpu_model"] == "H100-SXM-80G"
    assert events[0]["data"]["node"] == "n9"
    assert not (tmp_path / "spool").exists() and http_server.requests == []


def test_run_without_a_key_fails_clearly(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('source = "node/n1"\n')
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "key" in result.output


def test_config_from_file_and_environment(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(
        'source = "node/gpu-07"\nserver = "http://file"\n'
        '[[tokens]]\nurl = "http://127.0.0.1:8000/metrics"\ntenant = "tenant-b"\n'
        '[allocation]\nsource = "kubernetes"\n[allocation.namespaces]\nteam-a = "t-a"\n'
    )
    config = load_config(path, env={"KASHI_AGENT_SERVER": "http://env", "KASHI_AGENT_SPOOL_DIR": "/tmp/x"})
    assert config.server == "http://env" and config.spool.dir == "/tmp/x"
    assert config.node_name == "gpu-07" and config.window_seconds == 60
    assert config.allocation.namespaces == {"team-a": "t-a"}
    assert config.tokens[0].endpoint == "127.0.0.1_8000"
    assert load_config(None, env={"KASHI_AGENT_SOURCE": "node/e1"}).source == "node/e1"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('source = "n"\nwindow_seconds = 7\n', "window_seconds"),
        ('source = "n"\ntimezone = "Mars/Olympus"\n', "timezone"),
        ('source = "n"\n[gpu]\ncollector = "cuda"\n', "gpu.collector"),
        ('source = "n"\nsurprise = 1\n', "surprise"),
        ("source = \n", "TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, complaint):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=complaint):
        load_config(path, env={})


def test_the_agent_imports_no_server_packages():
    code = (
        "import sys, pkgutil, importlib, metering.agent as a\n"
        "for m in pkgutil.walk_packages(a.__path__, 'metering.agent.'):\n"
        "    if m.name != 'metering.agent.__main__': importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'sqlalchemy','fastapi','redis','dramatiq','psycopg','kashi','billing','workers'})\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
