"""Shared fixtures. Servers are real (pip-bundled PostgreSQL 16 and Valkey 8.1), started once per
session under a temporary data dir; tests isolate themselves with fresh random ids, never by
truncating tables. A server that cannot start fails the run, it never skips."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def kashi(tmp_path_factory):
    """A running Kashi: embedded servers, migrated schema, API on a loopback port, one worker."""
    from kashi.local import LocalKashi
    from kashi.settings import Settings

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("kashi-data"), database_url=None, redis_url=None, heartbeat_timeout_ms=3000
    )
    local = LocalKashi(settings, workers=1).start()
    yield local
    local.stop()


@pytest.fixture
def uid() -> str:
    """A fresh id fragment, so tests never collide with each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def operator_client(kashi):
    import httpx

    with httpx.Client(
        base_url=kashi.base_url, headers={"Authorization": f"Bearer {kashi.key('operator')}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def new_tenant(kashi, uid):
    """A fresh tenant (Asia/Shanghai, CNY); returns its id."""
    from billing.services import tenants

    tenant_id = f"t-{uid}"
    with kashi.engine.begin() as conn:
        tenants.create(conn, {"id": tenant_id, "name": f"Tenant {uid}"}, actor="test")
    return tenant_id
