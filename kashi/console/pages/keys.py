"""API keys (operators): create one (shown once, never again), list them, revoke one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from kashi.api.deps import ConnDep
from kashi.console.format import pager
from kashi.console.web import ConsoleRoute, OperatorOnly, render
from kashi.errors import KashiError, NotFound
from kashi.keys import ROLES, create_key, list_keys, revoke_key

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 50


def _page(
    request: Request,
    viewer,
    conn,
    *,
    cursor: str = "",
    trail: str = "",
    created: dict | None = None,
    error: dict | None = None,
    form: dict | None = None,
    notice: str | None = None,
    status_code: int = 200,
):
    keys = list_keys(conn, after=cursor or None, limit=PAGE)
    next_cursor = keys[-1]["id"] if len(keys) == PAGE else None
    return render(
        request,
        "keys.html",
        viewer=viewer,
        title="API keys",
        keys=keys,
        roles=ROLES,
        created=created,
        error=error,
        form=form or {"role": "finance", "tenant": "", "source": ""},
        notice=notice,
        pager=pager("/console/keys", {}, cursor=cursor, next_cursor=next_cursor, trail=trail),
        status_code=status_code,
    )


@router.get("/console/keys")
def keys_page(
    request: Request, viewer: OperatorOnly, conn: ConnDep, cursor: str = "", trail: str = "", revoked: str = ""
):
    notice = f"Key {revoked} revoked: it is refused from now on." if revoked.isalnum() and revoked else None
    return _page(request, viewer, conn, cursor=cursor, trail=trail, notice=notice)


@router.post("/console/keys")
def create(
    request: Request,
    viewer: OperatorOnly,
    conn: ConnDep,
    role: Annotated[str, Form()] = "",
    tenant: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
):
    form = {"role": role, "tenant": tenant.strip(), "source": source.strip()}
    try:
        with conn.begin_nested():
            key = create_key(conn, role, tenant_id=form["tenant"] or None, source=form["source"] or None)
    except KashiError as exc:
        return _page(
            request,
            viewer,
            conn,
            error={"code": exc.code, "message": exc.message, "details": exc.details},
            form=form,
            status_code=422,
        )
    created = {"key": key, "id": key.split("_", 2)[1], "role": role}
    return _page(request, viewer, conn, created=created)


@router.post("/console/keys/{key_id}/revoke")
def revoke(key_id: str, viewer: OperatorOnly, conn: ConnDep):
    if not revoke_key(conn, key_id):
        raise NotFound(f"key {key_id} not found or already revoked", [{"field": "key_id", "reason": "not found"}])
    return RedirectResponse(f"/console/keys?revoked={key_id}", status_code=303)
