"""Kashi's settings: the only place that reads the environment (prefix ``KASHI_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("kashi", appauthor=False))


class Settings(BaseSettings):
    """Runtime configuration, from ``KASHI_*`` environment variables or CLI flags."""

    model_config = SettingsConfigDict(env_prefix="KASHI_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the embedded PostgreSQL and Valkey keep their data (``--data-dir``)."""
    database_url: str | None = None
    """An external PostgreSQL (``postgresql+psycopg://…``); unset means the embedded one."""
    redis_url: str | None = None
    """An external Redis or Valkey (``redis://…``); unset means the embedded one."""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    """Worker processes started by ``kashi up``."""
    worker_threads: int = 8
    """Threads of each worker process. Threads mostly wait: on PostgreSQL, or for the transaction that
    records their batch together with the other threads' (`metering.record.Recorder`, group commit)."""
    queue_namespace: str = "kashi"
    waitaof_timeout_ms: int = 2000
    """How long an ingest request waits for Redis to fsync its batch to the AOF (SPEC §3)."""
    heartbeat_timeout_ms: int = 15_000
    """A worker silent this long is presumed dead and its messages are redelivered."""
    max_batch_attempts: int = 5
    """Deliveries of one batch before it is parked for operators (a poison batch)."""
    close_grace_hours: int = 24
    """Hours after a period's end before the scheduler closes it (SPEC §7)."""
    scheduler_interval_s: int = 60
    close_drain_timeout_s: float = 60
    """How long a close waits for batches acknowledged (202) before it began to be recorded, in seconds;
    past it the close issues nothing and answers 409 naming them (``KASHI_CLOSE_DRAIN_TIMEOUT_S``)."""
    default_timezone: str = "Asia/Shanghai"
    default_currency: str = "CNY"
    log_level: str = "INFO"
    console_secret: str | None = None
    """Signs the web console's session cookies; unset, one is generated into the data dir (share one
    value across API replicas)."""
    console_session_hours: int = 8
    """A console session expires this long after sign-in."""
    instance_id: str | None = None
    """Set by ``kashi up`` for its children; ``/healthz`` answers it so ``up`` knows its own API."""


@lru_cache
def get_settings() -> Settings:
    return Settings()
