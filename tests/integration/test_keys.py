"""API keys against the real PostgreSQL: who a key is, and that checking it leaves nothing open."""

from __future__ import annotations

import pytest

from kashi.api.deps import get_principal
from kashi.db import make_engine
from kashi.errors import Unauthorized, ValidationFailed
from kashi.keys import Principal, authenticate, create_key, principal_of, revoke_key


def test_authenticate_answers_each_role_with_what_binds_it(kashi, uid):
    with kashi.engine.begin() as conn:
        agent = create_key(conn, "agent", source=f"node/{uid}")
        tenant = create_key(conn, "tenant", tenant_id=f"t-{uid}")
        finance = create_key(conn, "finance")
    with kashi.engine.connect() as conn:
        assert authenticate(conn, agent) == Principal(agent.split("_")[1], "agent", source=f"node/{uid}")
        assert authenticate(conn, tenant) == Principal(tenant.split("_")[1], "tenant", tenant_id=f"t-{uid}")
        assert authenticate(conn, finance) == Principal(finance.split("_")[1], "finance")


@pytest.mark.parametrize(
    ("role", "binding", "field"),
    [
        ("finance", {"tenant_id": "t-1"}, "tenant"),  # would read as a finance key for one tenant: it is not
        ("operator", {"source": "node/n1"}, "source"),
        ("agent", {"source": "node/n1", "tenant_id": "t-1"}, "tenant"),
        ("tenant", {"tenant_id": "t-1", "source": "node/n1"}, "source"),
    ],
)
def test_a_binding_the_role_does_not_enforce_is_refused(kashi, role, binding, field):
    with kashi.engine.begin() as conn, pytest.raises(ValidationFailed) as refused:
        create_key(conn, role, **binding)
    assert [d["field"] for d in refused.value.details] == [field]


def test_authenticate_refuses_a_wrong_secret_a_malformed_key_and_a_revoked_one(kashi, uid):
    with kashi.engine.begin() as conn:
        key = create_key(conn, "finance")
    key_id = key.split("_")[1]
    with kashi.engine.connect() as conn:
        assert authenticate(conn, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        for malformed in ("", "ks_", f"xx_{key_id}_secret", key_id, f"ks_{key_id}", f"ks_{key_id}\x00_x", key + "\x00"):
            assert authenticate(conn, malformed) is None
        assert principal_of(conn, key_id) == Principal(key_id, "finance")
        assert principal_of(conn, f"{key_id}\x00") is None
    with kashi.engine.begin() as conn:
        assert revoke_key(conn, key_id)
    with kashi.engine.connect() as conn:
        assert authenticate(conn, key) is None
        assert principal_of(conn, key_id) is None


def test_a_request_s_key_check_gives_its_connection_back_idle_and_transactional(kashi, uid):
    """The per-request lookup is one statement in autocommit: no BEGIN, no ROLLBACK, and the pooled
    connection goes back idle and in its default (transactional) mode."""
    with kashi.engine.begin() as conn:
        key = create_key(conn, "agent", source=f"node/{uid}")
    engine = make_engine(kashi.servers.database_url, pool_size=1)  # one connection, used in turn
    try:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
        assert get_principal(engine, f"Bearer {key}").source == f"node/{uid}"
        with pytest.raises(Unauthorized):
            get_principal(engine, "Bearer ks_nope_nope")
        with engine.connect() as conn:
            assert conn.connection.driver_connection is driver
            assert driver.autocommit is False
            assert driver.info.transaction_status.name == "IDLE"
        with pytest.raises(Unauthorized):
            get_principal(engine, None)
    finally:
        engine.dispose()
