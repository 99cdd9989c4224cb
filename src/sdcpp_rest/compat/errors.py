"""Error handlers for the compat sub-applications: every failure (ours, FastAPI's validation,
Starlette's HTTP errors, anything unexpected) is reduced to one CompatError, which each compat API
renders in its own wire shape. The native API's handlers (errors.py) are not involved: a mounted
sub-application handles its own exceptions."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.storage.outage import database_unavailable, unavailable_error

log = logging.getLogger(__name__)

_HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_PARAMETERS,
    401: ErrorCode.AUTH_REQUIRED,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


@dataclass(frozen=True)
class CompatError:
    """What went wrong, before a compat API gives it its wire shape."""

    status_code: int
    code: str
    message: str
    kind: str  # the exception's class name (AUTOMATIC1111 reports it as `error`)
    field: str | None = None
    headers: dict[str, str] | None = None
    details: list[dict[str, Any]] = dataclasses.field(
        default_factory=list
    )  # validation issues, FastAPI-style


ErrorRenderer = Callable[[Request, CompatError], JSONResponse]


def validation_error(exc: RequestValidationError) -> CompatError:
    """Malformed JSON is a bad request (400); a well-formed body with bad fields a validation error."""
    parts: list[str] = []
    details: list[dict[str, Any]] = []
    first_field: str | None = None
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return CompatError(
                400,
                ErrorCode.INVALID_PARAMETERS,
                f"request body is not valid JSON: {err.get('msg')}",
                "JSONDecodeError",
            )
        location = [str(part) for part in err.get("loc", ()) if part != "body"]
        name = ".".join(location) or "body"
        first_field = first_field or name
        parts.append(f"{name}: {err.get('msg')}")
        details.append(
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg")), "type": str(err.get("type"))}
        )
    message = "; ".join(parts) or "request validation failed"
    return CompatError(
        422, ErrorCode.VALIDATION_ERROR, message, "RequestValidationError", first_field, None, details
    )


def install_compat_error_handlers(app: FastAPI, render: ErrorRenderer) -> None:
    """Route every exception of `app` through `render`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        error = CompatError(
            exc.status_code, exc.code, exc.message, type(exc).__name__, exc.field, exc.headers
        )
        return render(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(request, validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_PARAMETERS)
        if exc.status_code >= 500:
            code = ErrorCode.INTERNAL_ERROR
        message = str(exc.detail) if exc.detail else code.value
        return render(
            request,
            CompatError(
                exc.status_code,
                code,
                message,
                "HTTPException",
                headers=dict(exc.headers) if exc.headers else None,
            ),
        )

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_error(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        log.warning("database unavailable: %s", exc.orig)
        return await _api_error(request, unavailable_error())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = str(getattr(request.state, "request_id", "") or "")
        log.exception("unexpected error (request_id=%s)", request_id)
        message = f"internal server error; see the server log for request id {request_id}"
        return render(request, CompatError(500, ErrorCode.INTERNAL_ERROR, message, type(exc).__name__))
