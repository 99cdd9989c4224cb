"""HTTP rendering of every error: ours (ApiError), FastAPI's validation, Starlette's HTTP ones, anything
else. One body for all of them: {"error": {message, code, status_code, request_id, timestamp}}."""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sdcpp_rest.api.route_index import allowed_methods
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.storage.outage import database_unavailable, unavailable_error

log = logging.getLogger(__name__)

# The API code of Starlette's own HTTP errors (routing, body parsing); other 4xx are INVALID_PARAMETERS.
HTTP_CODES: dict[int, ErrorCode] = {
    401: ErrorCode.AUTH_REQUIRED,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_body(code: str, status_code: int, message: str, request_id: str) -> dict[str, Any]:
    """The body; sdcpp_rest.schemas.errors.ErrorResponse documents it."""
    return {
        "error": {
            "message": message,
            "code": code,
            "status_code": status_code,
            "request_id": request_id,
            "timestamp": int(time.time()),
        }
    }


def error_response(
    request: Request, code: str, status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    request_id = request_id_of(request)
    return JSONResponse(
        error_body(code, status_code, message, request_id), status_code=status_code, headers=headers
    )


def describe_validation_errors(exc: RequestValidationError) -> tuple[ErrorCode, int, str]:
    """Malformed JSON is INVALID_PARAMETERS (400); a well-formed body with bad fields is VALIDATION_ERROR."""
    parts: list[str] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return ErrorCode.INVALID_PARAMETERS, 400, f"request body is not valid JSON: {err.get('msg')}"
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        parts.append(f"{field}: {err.get('msg')}")
    return ErrorCode.VALIDATION_ERROR, 422, "; ".join(parts) or "request validation failed"


def install_error_handlers(app: FastAPI) -> None:
    """Render every error (ours, FastAPI's validation, Starlette's HTTP ones, anything else) the same way."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.code, exc.status_code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, status, message = describe_validation_errors(exc)
        return error_response(request, code, status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_PARAMETERS)
        if exc.status_code >= 500:
            code = ErrorCode.INTERNAL_ERROR
        message = str(exc.detail) if exc.detail else code.value
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            methods = allowed_methods(request.app, request.scope)
            headers["Allow"] = ", ".join(methods)
            message = f"{request.method} is not allowed here; this path takes {', '.join(methods)}"
        return error_response(request, code, exc.status_code, message, headers=headers or None)

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_error(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        log.warning("database unavailable (request_id=%s): %s", request_id_of(request), exc.orig)
        return await _api_error(request, unavailable_error())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request_id=%s)", request_id_of(request))
        return error_response(
            request,
            ErrorCode.INTERNAL_ERROR,
            500,
            "internal server error; see the server log for this request id",
        )
