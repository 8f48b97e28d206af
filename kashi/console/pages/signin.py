"""Sign-in with an API key (a session cookie for it), and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from kashi.console.session import SESSION_COOKIE, SIGNIN_COOKIE, SIGNIN_MAX_AGE_S
from kashi.console.web import ConsoleRoute, Viewer, get_viewer, render, sessions, viewer_of
from kashi.keys import authenticate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _next(target: str | None) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def _form(
    request: Request, *, next_url: str, status_code: int = 200, error: dict | None = None, notice: str | None = None
) -> Response:
    token, cookie = sessions(request).signin_token()
    response = render(
        request,
        "signin.html",
        status_code=status_code,
        signin_token=token,
        next_url=next_url,
        error=error,
        notice=notice,
    )
    _cookie(response, request, SIGNIN_COOKIE, cookie, SIGNIN_MAX_AGE_S)
    return response


@router.get("/console/login")
def signin_form(request: Request, next: str | None = None, signed_out: str | None = None) -> Response:
    if viewer_of(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return _form(request, next_url=_next(next), notice="You are signed out." if signed_out else None)


@router.post("/console/login")
def sign_in(
    request: Request,
    key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    def refused(status: int, code: str, message: str) -> Response:
        error = {"code": code, "message": message, "details": [{"field": "key", "reason": message}]}
        return _form(request, next_url=_next(next), status_code=status, error=error)

    if not sessions(request).signin_token_valid(request.cookies.get(SIGNIN_COOKIE), csrf_token):
        return refused(403, "forbidden", "the sign-in form expired; sign in again")
    with request.app.state.engine.connect() as conn:
        principal = authenticate(conn, key.strip())
    if principal is None:
        return refused(401, "unauthorized", "unknown or revoked key")
    if principal.role == "agent":
        return refused(403, "forbidden", "agent keys only send events; sign in with an operator, finance or tenant key")
    _, cookie = sessions(request).issue(principal.key_id)
    response = RedirectResponse(_next(next), status_code=303)
    _cookie(response, request, SESSION_COOKIE, cookie, sessions(request).max_age_s)
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@router.post("/console/logout")
def sign_out(request: Request, _: Annotated[Viewer, Depends(get_viewer)]) -> Response:
    response = RedirectResponse("/console/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
    return response
