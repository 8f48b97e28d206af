"""What every console page shares: templates, the signed-in viewer, CSRF on every POST, role
checks, and errors shown in the page with the API's message and status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kashi.api.errors import STATUS, _field
from kashi.console import format as fmt
from kashi.console.session import CSRF_FIELD, SESSION_COOKIE, Session, Sessions, csrf_valid
from kashi.errors import Forbidden, KashiError, ValidationFailed
from kashi.keys import Principal, principal_of

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    money=fmt.money,
    grouped=fmt.grouped,
    price=fmt.price,
    hours=fmt.hours,
    count=fmt.count,
    local_time=fmt.local_time,
    rate=fmt.rate,
    bucket_label=fmt.bucket_label,
)


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
"""Every page: never cached (it shows money and keys), never framed, scripts and styles only from the app."""


class SignInRequired(Exception):
    """No live session: the page answers with the sign-in form (a redirect to it)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in caller: the API key's principal and the session's CSRF token."""

    principal: Principal
    session: Session

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def tenant_scope(self) -> str | None:
        """The tenant a tenant key is confined to; None for operator and finance."""
        return self.principal.tenant_id if self.principal.role == "tenant" else None


def sessions(request: Request) -> Sessions:
    return request.app.state.console_sessions


def current_session(request: Request) -> Session | None:
    return sessions(request).read(request.cookies.get(SESSION_COOKIE))


def viewer_of(request: Request) -> Viewer | None:
    """The viewer of a request with a live session whose key is still live (a revoked key ends it)."""
    session = current_session(request)
    if session is None:
        return None
    with request.app.state.engine.connect() as conn:
        principal = principal_of(conn, session.key_id)
    if principal is None or principal.role == "agent":
        return None
    return Viewer(principal, session)


async def get_viewer(request: Request) -> Viewer:
    viewer = viewer_of(request)
    if viewer is None:
        raise SignInRequired
    if request.method == "POST":
        form = await request.form()
        if not csrf_valid(viewer.session, form.get(CSRF_FIELD)):
            raise Forbidden(
                "the form's security token is missing or stale; reload the page and try again",
                [{"field": CSRF_FIELD, "reason": "missing or does not match this session"}],
            )
    return viewer


def allow(*roles: str) -> Callable:
    """A dependency admitting signed-in viewers of ``roles`` (403 for the others)."""

    def check(viewer: Annotated[Viewer, Depends(get_viewer)]) -> Viewer:
        if viewer.role not in roles:
            raise Forbidden(
                f"a {viewer.role} key may not open this page",
                [{"field": "role", "reason": f"needs one of: {', '.join(roles)}"}],
            )
        return viewer

    return Depends(check)


Staff = Annotated[Viewer, allow("operator", "finance")]
AnyViewer = Annotated[Viewer, allow("operator", "finance", "tenant")]
OperatorOnly = Annotated[Viewer, allow("operator")]


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None = None,
    status_code: int = 200,
    headers: dict | None = None,
    **context,
) -> HTMLResponse:
    """A page: ``template`` with the navigation of the viewer's role and the session's CSRF token."""
    menu = request.app.state.console_menu(viewer.role) if viewer else []
    body = TEMPLATES.get_template(template).render(
        request=request,
        viewer=viewer,
        menu=menu,
        csrf_field=CSRF_FIELD,
        csrf_token=viewer.session.csrf if viewer else "",
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def error_page(request: Request, exc: KashiError) -> HTMLResponse:
    """The API's error (code, message, details) in a page, with the status the API would answer."""
    status = STATUS.get(exc.code, 400)
    return render(
        request,
        "error.html",
        viewer=viewer_of(request),
        status_code=status,
        status=status,
        error={"code": exc.code, "message": exc.message, "details": exc.details or []},
    )


class ConsoleRoute(APIRoute):
    """A console route: errors become pages (not JSON), a missing session becomes the sign-in form."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)
            except KashiError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                details = [{"field": _field(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
                return error_page(request, ValidationFailed("the request is invalid", details))

        return route
