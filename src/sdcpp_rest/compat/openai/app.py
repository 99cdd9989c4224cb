"""OpenAI's Images API as its own FastAPI application, mounted at /v1, with OpenAI's error shape
`{"error": {"message", "type", "param", "code"}}` and statuses, and its own OpenAPI document at
/v1/docs. It shares the main app's ServicesHolder, so its dependencies reach the same services."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sdcpp_rest import __version__
from sdcpp_rest.api.docs_pages import NO_BUILTIN_DOCS, install_docs
from sdcpp_rest.compat.errors import CompatError, install_compat_error_handlers
from sdcpp_rest.compat.openai import images, models
from sdcpp_rest.container import ServicesHolder
from sdcpp_rest.errors import ErrorCode

# OpenAI answers a request it cannot parse with 400, never 422, and names an unsupported type there too.
_STATUS = {422: 400, 415: 400}
_TYPES = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error",
          429: "rate_limit_error"}  # fmt: skip
_CODES = {
    ErrorCode.MODEL_NOT_FOUND.value: "model_not_found",
    ErrorCode.INVALID_CREDENTIALS.value: "invalid_api_key",
    ErrorCode.AUTH_REQUIRED.value: "missing_api_key",
    ErrorCode.RATE_LIMITED.value: "rate_limit_exceeded",
    ErrorCode.INSUFFICIENT_PERMISSIONS.value: "insufficient_permissions",
}


def render_error(_request: Request, error: CompatError) -> JSONResponse:
    status = _STATUS.get(error.status_code, error.status_code)
    kind = "server_error" if status >= 500 else _TYPES.get(status, "invalid_request_error")
    code = _CODES.get(error.code, error.code.lower())
    body = {"error": {"message": error.message, "type": kind, "param": error.field, "code": code}}
    return JSONResponse(body, status_code=status, headers=error.headers)


def build_openai_app(holder: ServicesHolder) -> FastAPI:
    app = FastAPI(
        title="sdcpp-rest: OpenAI Images API (/v1)",
        version=__version__,
        redirect_slashes=False,  # a slash redirect would be built from the Host header
        **NO_BUILTIN_DOCS,  # docs without a CDN (install_docs)
    )
    app.state.holder = holder  # api/deps.py reads the services from the app a request reached
    install_compat_error_handlers(app, render_error)
    install_docs(app)
    app.include_router(images.router)
    app.include_router(models.router)
    return app
