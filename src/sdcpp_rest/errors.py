"""One error hierarchy, mapped to (HTTP status, API code) in one place, and the handlers that render it."""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    AUTH_REQUIRED = "AUTH_REQUIRED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INSUFFICIENT_PERMISSIONS = "INSUFFICIENT_PERMISSIONS"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MODEL_NOT_LOADED = "MODEL_NOT_LOADED"
    MODEL_LOAD_FAILED = "MODEL_LOAD_FAILED"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    JOB_NOT_CANCELLABLE = "JOB_NOT_CANCELLABLE"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    JOB_NOT_FINISHED = "JOB_NOT_FINISHED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # A job's own failures (stored with the job, sent over the worker pipe, shown in job_update).
    GENERATION_FAILED = "GENERATION_FAILED"
    WORKER_CRASHED = "WORKER_CRASHED"
    JOB_INTERRUPTED = "JOB_INTERRUPTED"


class ApiError(Exception):
    """An error a client may see: code, HTTP status, a message that says what to fix and, for bad
    input, the request field at fault (dotted, e.g. `loras.0.name`), so /api/validate can point at it."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    status_code: int = 500

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class InvalidParameters(ApiError):
    code, status_code = ErrorCode.INVALID_PARAMETERS, 400


class ValidationFailed(ApiError):
    code, status_code = ErrorCode.VALIDATION_ERROR, 422


class ModelNotFound(ApiError):
    code, status_code = ErrorCode.MODEL_NOT_FOUND, 404


class JobNotFound(ApiError):
    code, status_code = ErrorCode.JOB_NOT_FOUND, 404


class FileNotFound(ApiError):
    code, status_code = ErrorCode.FILE_NOT_FOUND, 404


class JobNotCancellable(ApiError):
    code, status_code = ErrorCode.JOB_NOT_CANCELLABLE, 409


class PayloadTooLarge(ApiError):
    code, status_code = ErrorCode.PAYLOAD_TOO_LARGE, 413


class UnsupportedMediaType(ApiError):
    code, status_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE, 415


class ServiceUnavailable(ApiError):
    code, status_code = ErrorCode.SERVICE_UNAVAILABLE, 503


class JobNotFinished(ApiError):
    """A queued or running job cannot be deleted: cancel it first."""

    code, status_code = ErrorCode.JOB_NOT_FINISHED, 409


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_body(code: str, status_code: int, message: str, request_id: str) -> dict[str, Any]:
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


def _describe_validation_errors(exc: RequestValidationError) -> tuple[ErrorCode, int, str]:
    """Malformed JSON is INVALID_PARAMETERS (400); a well-formed body with bad fields is VALIDATION_ERROR."""
    parts: list[str] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return ErrorCode.INVALID_PARAMETERS, 400, f"request body is not valid JSON: {err.get('msg')}"
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        parts.append(f"{field}: {err.get('msg')}")
    return ErrorCode.VALIDATION_ERROR, 422, "; ".join(parts) or "request validation failed"


_HTTP_CODES: dict[int, ErrorCode] = {
    401: ErrorCode.AUTH_REQUIRED,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error (ours, FastAPI's validation, Starlette's HTTP ones, anything else) the same way."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.code, exc.status_code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, status, message = _describe_validation_errors(exc)
        return error_response(request, code, status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_PARAMETERS)
        if exc.status_code >= 500:
            code = ErrorCode.INTERNAL_ERROR
        message = str(exc.detail) if exc.detail else code.value
        return error_response(request, code, exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request_id=%s)", request_id_of(request))
        return error_response(
            request,
            ErrorCode.INTERNAL_ERROR,
            500,
            "internal server error; see the server log for this request id",
        )
