"""create_app(settings): services (container.py), lifespan (recovery, workers), routers, error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sdcpp_rest import __version__
from sdcpp_rest.api import (
    auth,
    files,
    generate,
    generate_modes,
    generate_video,
    image_download,
    model_files,
    model_sets,
    models,
    monitoring,
    ops,
    png_info,
    queue,
    styles,
    system,
    users,
    utilities,
    ws,
)
from sdcpp_rest.api.docs_pages import NO_BUILTIN_DOCS, install_docs
from sdcpp_rest.api.error_handlers import install_error_handlers
from sdcpp_rest.api.image_body import install_body_schemas
from sdcpp_rest.api.json_body import SMALL_BODY_BYTES
from sdcpp_rest.api.middleware import RequestContextMiddleware
from sdcpp_rest.api.model_files import UPLOAD_FORM_OVERHEAD_BYTES, UPLOAD_PATH
from sdcpp_rest.api.openapi import install_openapi_errors
from sdcpp_rest.api.web_ui import install_web_ui
from sdcpp_rest.compat import mount_compat_apps
from sdcpp_rest.config import Settings
from sdcpp_rest.container import (
    ServicesHolder,
    build_services,
    recover_at_start,
    start_services,
    stop_services,
)
from sdcpp_rest.monitoring.http import HttpMetricsMiddleware
from sdcpp_rest.ops.command_inbox import CommandInbox
from sdcpp_rest.ops.restart import SHUTDOWN_WAIT_SLACK_SECONDS
from sdcpp_rest.schemas.png_info import PngInfoRequest

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def warn_if_open(settings: Settings) -> None:
    if not settings.auth_enabled and settings.host not in LOOPBACK_HOSTS and settings.unix_socket is None:
        log.warning(
            "AUTHENTICATION IS OFF (auth_method=none) and the server listens on %s: anyone who can reach "
            "this port is an administrator. Set auth_method or listen on 127.0.0.1.",
            settings.host,
        )


def create_app(settings: Settings, reload_settings: Callable[[], Settings] | None = None) -> FastAPI:
    """The app; `reload_settings` re-reads the configuration's sources for POST /api/system/restart."""
    holder = ServicesHolder(build_services(settings))
    first = holder.current
    restarter = holder.restarter(reload_settings)
    # In a cluster, the loads, unloads and restarts other nodes ask of this process's engine workers.
    inbox = CommandInbox(lambda: holder.current, restarter.request)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        report = recover_at_start(first)
        if report.requeued or report.failed:
            log.warning(
                "recovered after an unclean stop: %d job(s) requeued, %d failed",
                len(report.requeued),
                len(report.failed),
            )
        first.bus.bind(asyncio.get_running_loop())
        start_services(first)
        inbox.start()
        warn_if_open(settings)
        log.info(
            "sdcpp-rest %s listening on %s:%s (models: %s, outputs: %s)",
            __version__,
            settings.host,
            settings.port,
            settings.models_path,
            settings.output_path,
        )
        try:
            yield
        finally:
            log.info("shutting down: no new jobs; a running job that does not finish in time is requeued")
            await asyncio.to_thread(inbox.stop)
            grace = holder.current.settings.restart_grace_seconds
            await asyncio.to_thread(restarter.wait, grace + SHUTDOWN_WAIT_SLACK_SECONDS)
            await asyncio.to_thread(stop_services, holder.current)

    app = FastAPI(
        title="sdcpp-rest",
        version=__version__,
        description="stable-diffusion.cpp behind a REST API with a durable job queue. "
        'Errors always have the body {"error": {message, code, status_code, request_id, timestamp}}.',
        lifespan=lifespan,
        # Starlette would answer `/path/` with a redirect to a URL built from the request's Host header;
        # the API has no trailing-slash paths, so such a request is a plain 404.
        redirect_slashes=False,
        **NO_BUILTIN_DOCS,  # /docs and /redoc without a CDN: install_docs below
    )
    # The two app-level objects the routes reach (api/deps.py): the current services and the restarter.
    app.state.holder = holder
    app.state.restarter = restarter
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_bytes,
        parsed_body_bytes=min(SMALL_BODY_BYTES, settings.max_request_bytes),
        # Issue 16: a model upload streams to disk, bounded by the model size limit instead.
        path_limits={UPLOAD_PATH: settings.model_download_max_bytes + UPLOAD_FORM_OVERHEAD_BYTES},
    )
    # Outermost, so it also counts the 413s and 500s the request-context middleware answers itself.
    app.add_middleware(HttpMetricsMiddleware, metrics=first.metrics)
    for router in (
        system.router,
        auth.router,
        generate.router,
        generate_modes.router,
        generate_video.router,
        queue.router,
        files.router,
        utilities.router,
        png_info.router,
        # Before the routers with /api/models/{model_id:path} (model_files' DELETE, models' GET): such a
        # path would take /api/models/sets/NAME and /api/models/trash as model ids.
        model_sets.router,
        model_files.router,
        models.router,
        ops.router,
        image_download.router,
        monitoring.router,
        users.router,
        styles.router,
        ws.router,
    ):
        app.include_router(router)
    install_body_schemas(app, [*generate_modes.BODY_MODELS, *generate_video.BODY_MODELS, PngInfoRequest])
    install_openapi_errors(app)
    # AUTOMATIC1111's /sdapi/v1 and OpenAI's /v1: sub-applications with their own error shapes and
    # docs, on the same services; the middleware above (request id, body limit, metrics) wraps them.
    mount_compat_apps(app, holder)
    install_docs(app)
    install_web_ui(app)  # last: `/` and `/ui/` must not shadow an API route
    return app
