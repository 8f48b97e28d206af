"""One place that maps :class:`KashiError` codes to HTTP (STYLE principle 7).

Every error answers ``{"error": {"code", "message", "details"}}`` (SPEC §10). Services, the store
and metering raise :class:`~kashi.errors.KashiError` subclasses and know nothing of HTTP; routes
raise them too and never build an error answer themselves.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kashi.errors import KashiError

STATUS = {
    "validation_failed": 422,
    "credit_exceeds_remaining": 422,
    "not_found": 404,
    "conflict": 409,
    "period_closed": 409,
    "batches_not_recorded": 409,
    "version_conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unavailable": 503,
}


def error_body(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _field(loc: tuple) -> str:
    """``("query", "group_by")`` → ``group_by``; ``("body",)`` → ``body``."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _detail(error: dict) -> dict:
    """One problem of a request: a body that is not JSON names ``body`` (its loc ends in a byte offset)."""
    if error.get("type") == "json_invalid":
        return {"field": "body", "reason": f"not valid JSON: {error['msg']} (at byte {error['loc'][-1]})"}
    return {"field": _field(error["loc"]), "reason": error["msg"]}


def install(app: FastAPI) -> None:
    @app.exception_handler(KashiError)
    async def kashi_error(_: Request, exc: KashiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else None
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=STATUS.get(exc.code, 400), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [_detail(e) for e in exc.errors()]
        return JSONResponse(error_body("validation_failed", "the request is invalid", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)
