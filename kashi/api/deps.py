"""Request dependencies: a connection, the caller, role checks and tenant scoping in one place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Connection, Engine

from billing.services import contracts
from kashi.errors import Forbidden, NotFound, Unauthorized
from kashi.keys import Principal, authenticate
from kashi.settings import Settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One transaction per request: committed if the route returns, rolled back if it raises."""
    with engine.begin() as conn:
        yield conn


EngineDep = Annotated[Engine, Depends(get_engine)]
ConnDep = Annotated[Connection, Depends(get_conn, scope="function")]
"""Committed before the answer is sent (a request-scoped ``yield`` dependency would commit after
it, and a client could miss its own write or never learn that the commit failed)."""
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_principal(engine: EngineDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing bearer key", [{"field": "Authorization", "reason": "send 'Bearer <key>'"}])
    with engine.connect() as conn:  # one statement, so no transaction around it: no BEGIN, no ROLLBACK
        principal = authenticate(conn.execution_options(isolation_level="AUTOCOMMIT"), authorization[7:].strip())
    if principal is None:
        raise Unauthorized("unknown or revoked key", [{"field": "Authorization", "reason": "key not accepted"}])
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: str):
    """A dependency admitting only ``roles`` (403 for any other valid key)."""

    async def check(principal: CurrentPrincipal) -> Principal:  # no I/O: async keeps it off the threadpool
        if principal.role not in roles:
            raise Forbidden(
                f"a {principal.role} key may not do this",
                [{"field": "Authorization", "reason": f"needs one of: {', '.join(roles)}"}],
            )
        return principal

    return Depends(check)


Operator = Annotated[Principal, require("operator")]
Reader = Annotated[Principal, require("operator", "finance", "tenant")]
BillingReader = Annotated[Principal, require("operator", "finance")]
Agent = Annotated[Principal, require("agent", "operator")]


def ensure_tenant_visible(principal: Principal, tenant_id: str) -> None:
    """A tenant key sees its own tenant only; anything else answers 404, never another tenant's data."""
    if principal.role == "tenant" and principal.tenant_id != tenant_id:
        raise NotFound(f"tenant {tenant_id} not found", [{"field": "tenant_id", "reason": "not found"}])
    if principal.role == "agent":
        raise Forbidden("agent keys only send events")


def visible_tenant(tenant_id: str, principal: CurrentPrincipal) -> str:
    """The path's ``tenant_id``, once the caller may see it (see :func:`ensure_tenant_visible`)."""
    ensure_tenant_visible(principal, tenant_id)
    return tenant_id


VisibleTenant = Annotated[str, Depends(visible_tenant)]
"""A ``{tenant_id}`` path parameter the caller may see: another tenant's answers 404, an agent key 403."""


def visible_contract(contract_id: str, conn: ConnDep, principal: CurrentPrincipal) -> str:
    """The path's ``contract_id``, once the caller may see its tenant: another tenant's contract
    answers 404 as if it did not exist (SPEC §9)."""
    try:
        ensure_tenant_visible(principal, contracts.tenant_of(conn, contract_id))
    except NotFound:
        raise NotFound(f"contract {contract_id} not found", [{"field": "contract_id", "reason": "not found"}]) from None
    return contract_id


VisibleContract = Annotated[str, Depends(visible_contract)]
"""A ``{contract_id}`` path parameter whose contract the caller may see (404 otherwise)."""


def listing_scope(principal: Principal, tenant_id: str | None) -> str | None:
    """The tenant a listing is narrowed to: a tenant key lists its own (asking for another is
    404); operator and finance list the one asked for, or every tenant when none is."""
    if principal.role == "tenant":
        tenant_id = tenant_id or principal.tenant_id
    if tenant_id is not None:
        ensure_tenant_visible(principal, tenant_id)
    return tenant_id


def offset_restored(value: str | None) -> str | None:
    """A query-string instant with its ``+hh:mm`` offset restored when the ``+`` arrived decoded as a
    space (``?effective_at=2027-01-01T00:00:00+08:00`` typed into a URL without encoding)."""
    if value and len(value) > 19 and value[19] == " ":
        return value[:19] + "+" + value[20:]
    return value
