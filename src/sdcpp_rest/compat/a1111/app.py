"""The AUTOMATIC1111 API as its own FastAPI application, mounted at /sdapi/v1 (and /internal for
its ping), with A1111's error shape `{"error", "detail", "body", "errors"}` and its own OpenAPI
document at /sdapi/v1/docs. It shares the main app's ServicesHolder, so its dependencies reach the
same services (and a restart's new ones)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from sdcpp_rest import __version__
from sdcpp_rest.api.docs_pages import NO_BUILTIN_DOCS, install_docs
from sdcpp_rest.compat.a1111 import catalog, generate, progress
from sdcpp_rest.compat.a1111.options import OptionsStore
from sdcpp_rest.compat.errors import CompatError, install_compat_error_handlers
from sdcpp_rest.container import ServicesHolder


def render_error(_request: Request, error: CompatError) -> JSONResponse:
    """A1111's exception handler writes `type(e).__name__`, the detail, the body and str(e)."""
    detail: Any = error.details or error.message
    body = {
        "error": error.kind,
        "detail": detail,
        "body": "",
        "errors": f"{error.status_code}: {error.message}",
    }
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def _application(holder: ServicesHolder, title: str) -> FastAPI:
    app = FastAPI(
        title=title, version=__version__, redirect_slashes=False, **NO_BUILTIN_DOCS
    )  # no Host-built redirects; docs without a CDN (install_docs)
    app.state.holder = holder  # api/deps.py reads the services from the app a request reached
    install_compat_error_handlers(app, render_error)
    install_docs(app)
    return app


def build_a1111_app(holder: ServicesHolder) -> FastAPI:
    app = _application(holder, "sdcpp-rest: AUTOMATIC1111 API (/sdapi/v1)")
    app.state.options = OptionsStore()  # A1111's settings, per user (see options.py)
    for router in (generate.router, catalog.router, progress.router):
        app.include_router(router)
    return app


ping_router = APIRouter()


@ping_router.get("/ping", summary="Liveness (A1111's /internal/ping; no credentials needed)")
def ping() -> dict[str, Any]:
    return {}


def build_internal_app(holder: ServicesHolder) -> FastAPI:
    app = _application(holder, "sdcpp-rest: AUTOMATIC1111 internal (/internal)")
    app.include_router(ping_router)
    return app
