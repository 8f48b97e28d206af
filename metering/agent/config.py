"""agent.toml (read with tomllib) and its ``KASHI_AGENT_*`` environment overrides.

A minimal file::

    source = "node/gpu-07"              # the agent key is bound to this source
    server = "https://kashi.example.com"
    key_file = "/etc/kashi/agent.key"   # or key = "…", or KASHI_AGENT_KEY
    timezone = "Asia/Shanghai"          # offsets written in event times

    [allocation]
    source = "leases"
    leases_file = "/run/kashi/leases.json"

See docs/AGENT.md for every key. Environment variables win over the file: KASHI_AGENT_CONFIG
(path of the file), KASHI_AGENT_SOURCE, KASHI_AGENT_NODE, KASHI_AGENT_SERVER, KASHI_AGENT_KEY,
KASHI_AGENT_KEY_FILE, KASHI_AGENT_SPOOL_DIR, KASHI_AGENT_METRICS_PORT, KASHI_AGENT_LOG_LEVEL.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """The configuration cannot run an agent; the message says which key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuConfig(_Section):
    collector: Literal["auto", "dcgm", "nvidia-smi", "nvml", "ascend", "npu-smi", "none"] = "auto"
    url: str | None = None  # dcgm: http://localhost:9400/metrics, ascend: http://localhost:8082/metrics
    command: list[str] | None = None  # nvidia-smi (default -q -x) or npu-smi (default info) command line
    default_model: str = "unknown"  # model of a held GPU no collector sees (Slurm without collector)


class AllocationConfig(_Section):
    source: Literal["leases", "kubernetes", "slurm"] = "leases"
    leases_file: str = "/run/kashi/leases.json"
    namespaces: dict[str, str | dict[str, str]] = Field(default_factory=dict)  # kubernetes
    accounts: dict[str, str | dict[str, str]] = Field(default_factory=dict)  # slurm
    unmapped: Literal["namespace", "account", "ignore"] | None = None
    sacct_command: list[str] | None = None
    poll_seconds: float = 30.0
    scontrol: bool = True  # slurm: real GPU indices from `scontrol show job -d` when it answers


class TokenEndpointConfig(_Section):
    url: str
    tenant: str
    name: str | None = None  # part of event ids and of the saved counter state; default from url
    contract_id: str | None = None
    models: dict[str, str] = Field(default_factory=dict)  # served model name → billed model name

    @property
    def endpoint(self) -> str:
        if self.name:
            return self.name
        host = self.url.split("://", 1)[-1].split("/", 1)[0]
        return host.replace(":", "_")


class SpoolConfig(_Section):
    dir: str = "/var/lib/kashi-agent"
    max_bytes: int = Field(default=1 << 30, gt=0)


class MetricsConfig(_Section):
    port: int | None = 9464  # 0 or absent: no /metrics
    address: str = "0.0.0.0"


class AgentConfig(_Section):
    source: str
    node: str | None = None
    server: str | None = None
    key: str | None = None
    key_file: str | None = None
    window_seconds: int = 60
    sample_seconds: float = 10.0
    timezone: str = "UTC"
    log_level: str = "INFO"
    models: dict[str, str] = Field(default_factory=dict)  # driver name → catalog name
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    allocation: AllocationConfig = Field(default_factory=AllocationConfig)
    tokens: list[TokenEndpointConfig] = Field(default_factory=list)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("source must not be empty")
        return value.strip()

    @field_validator("window_seconds")
    @classmethod
    def _window(cls, value: int) -> int:
        if value <= 0 or 86_400 % value:
            raise ValueError("window_seconds must divide a day (60, 300, 3600 …)")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA timezone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _sample(self) -> AgentConfig:
        if not 0 < self.sample_seconds <= self.window_seconds:
            raise ValueError("sample_seconds must be positive and at most window_seconds")
        return self

    @property
    def node_name(self) -> str:
        """The node's name in events: `node`, else the source after ``node/``, else the hostname."""
        if self.node:
            return self.node
        if self.source.startswith("node/"):
            return self.source.removeprefix("node/")
        return socket.gethostname()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def api_key(self) -> str | None:
        if self.key:
            return self.key.strip()
        if self.key_file:
            return Path(self.key_file).read_text(encoding="utf-8").strip()
        return None


_ENV = {
    "KASHI_AGENT_SOURCE": ("source",),
    "KASHI_AGENT_NODE": ("node",),
    "KASHI_AGENT_SERVER": ("server",),
    "KASHI_AGENT_KEY": ("key",),
    "KASHI_AGENT_KEY_FILE": ("key_file",),
    "KASHI_AGENT_LOG_LEVEL": ("log_level",),
    "KASHI_AGENT_SPOOL_DIR": ("spool", "dir"),
    "KASHI_AGENT_METRICS_PORT": ("metrics", "port"),
}


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> AgentConfig:
    """The agent's configuration from the TOML file at `path` (or $KASHI_AGENT_CONFIG) and `env`."""
    env = os.environ if env is None else env
    path = path or env.get("KASHI_AGENT_CONFIG")
    raw: dict = {}
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except FileNotFoundError as error:
            raise ConfigError(f"config file not found: {path}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from error
    for name, keys in _ENV.items():
        if env.get(name):
            target = raw
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = env[name]
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path or 'environment'}: {problems}") from error
