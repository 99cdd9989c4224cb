"""One error hierarchy, mapped to (HTTP status, API code) in one place.

No web framework here: the engine worker process imports this module too. The HTTP rendering of these
errors lives in sdcpp_rest.api.error_handlers.
"""

from __future__ import annotations

from enum import StrEnum


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
    # Model files (issue 16): a model a queued job needs, or a file name already taken.
    MODEL_IN_USE = "MODEL_IN_USE"
    HASH_MISMATCH = "HASH_MISMATCH"  # a downloaded file's SHA-256 is not the one given or published


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


class RateLimited(ApiError):
    """Too much at once (a full queue, too many requests): try again after Retry-After seconds."""

    code, status_code = ErrorCode.RATE_LIMITED, 429


class JobNotFinished(ApiError):
    """A queued or running job cannot be deleted: cancel it first."""

    code, status_code = ErrorCode.JOB_NOT_FINISHED, 409
