"""create_app(settings): wiring, lifespan (database, recovery, workers), routers, error handlers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from sdcpp_rest import __version__
from sdcpp_rest.api import (
    auth,
    files,
    generate,
    generate_modes,
    image_download,
    models,
    monitoring,
    ops,
    queue,
    system,
    utilities,
    ws,
)
from sdcpp_rest.api.error_handlers import install_error_handlers
from sdcpp_rest.api.image_body import install_body_schemas
from sdcpp_rest.api.middleware import RequestContextMiddleware
from sdcpp_rest.api.openapi import install_openapi_errors
from sdcpp_rest.auth.service import AuthService
from sdcpp_rest.auth.store import UserStore
from sdcpp_rest.auth.tokens import TokenCodec, load_or_create_secret
from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.catalog.scan import default_type_roots
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.config import Settings
from sdcpp_rest.container import Services
from sdcpp_rest.downloads.images import DownloadPolicy, ImageDownloader
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.jobs.estimate import EstimateService
from sdcpp_rest.jobs.generation import GenerationService
from sdcpp_rest.jobs.model_loads import ModelLifecycle
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.retention import OutputRetention
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.monitoring.http import HttpMetricsMiddleware
from sdcpp_rest.monitoring.listener import FanOutListener, MetricsListener
from sdcpp_rest.monitoring.metrics import ServerMetrics
from sdcpp_rest.ops.restart import SHUTDOWN_WAIT_SLACK_SECONDS, ServerRestarter
from sdcpp_rest.ops.version import read_version_info
from sdcpp_rest.outputs.files import OutputStore
from sdcpp_rest.storage.database import create_database_engine, migrate

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# How often a graceful stop looks whether the running jobs have finished.
DRAIN_POLL_SECONDS = 0.2


def build_services(
    settings: Settings, events: EventBus | None = None, metrics: ServerMetrics | None = None
) -> Services:
    """Open storage and build every service; starts nothing. A restart passes the running event bus
    and metrics (WebSocket clients stay connected, counters do not reset)."""
    for folder in (settings.data_dir, settings.models_path, settings.output_path):
        folder.mkdir(parents=True, exist_ok=True)
    model_files_root = settings.model_type_folders().get("checkpoints", settings.models_path / "checkpoints")
    model_files_root.mkdir(parents=True, exist_ok=True)
    assert settings.database_url is not None
    engine = create_database_engine(settings.database_url)
    migrate(engine)
    store = SqlJobStore(engine)
    model_files = ModelFiles(settings.models_path, settings.model_type_folders())
    outputs = OutputStore(settings.output_path)
    generation = GenerationService(settings, store, model_files, outputs)
    scheduler = Scheduler(
        store,
        generation.build_command,
        worker_count=settings.max_concurrent_generations,
        verbose=settings.verbose,
        worker_start_timeout_s=settings.worker_start_timeout_s,
    )
    generation.scheduler = scheduler
    events = events or EventBus()
    notifier = JobNotifier(store, events, generation.to_public, scheduler.active_generations)
    metrics = metrics or ServerMetrics()
    metrics.attach(store, scheduler.active_generations)
    scheduler.listener = FanOutListener(notifier, MetricsListener(store, metrics))
    catalog = CatalogService(
        settings.models_path,
        default_type_roots(settings.models_path, settings.model_type_folders()),
        ModelHashStore(engine),
        loaded_paths=scheduler.loaded_models,
    )
    generation.catalog = catalog
    return Services(
        settings=settings,
        database=engine,
        store=store,
        model_files=model_files,
        outputs=outputs,
        generation=generation,
        scheduler=scheduler,
        version=read_version_info(),
        events=events,
        notifier=notifier,
        catalog=catalog,
        model_lifecycle=ModelLifecycle(scheduler, generation.default_context),
        estimator=EstimateService(store, scheduler, model_files),
        auth=build_auth(settings, engine),
        metrics=metrics,
        retention=OutputRetention(
            store,
            settings.output_path,
            max_age_days=settings.output_max_age_days,
            max_total_mb=settings.output_max_total_mb,
            interval_s=settings.output_cleanup_interval_s,
        ),
        downloader=ImageDownloader(DownloadPolicy.from_settings(settings)),
    )


def build_auth(settings: Settings, engine: Engine) -> AuthService:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    codec = TokenCodec(secret or load_or_create_secret(settings.data_dir), settings.jwt_expiry_minutes * 60)
    service = AuthService(settings, UserStore(engine), codec)
    service.ensure_first_admin()
    return service


def warn_if_open(settings: Settings) -> None:
    if not settings.auth_enabled and settings.host not in LOOPBACK_HOSTS and settings.unix_socket is None:
        log.warning(
            "AUTHENTICATION IS OFF (auth_method=none) and the server listens on %s: anyone who can reach "
            "this port is an administrator. Set auth_method or listen on 127.0.0.1.",
            settings.host,
        )


def start_services(services: Services) -> None:
    """Start the background work of a built Services: catalog scan and engine workers."""
    # Header-only scan: seconds even for thousands of files; hashes follow in the background.
    services.catalog.start()
    services.scheduler.start()
    services.retention.start()


def stop_services(services: Services) -> None:
    """Graceful: no new job starts, a running one may finish within restart_grace_seconds, then it is
    requeued without counting an attempt; workers end."""
    scheduler = services.scheduler
    scheduler.draining.set()
    deadline = time.monotonic() + services.settings.restart_grace_seconds
    if scheduler.active_generations():
        log.info("waiting up to %.0f s for the running job(s) to finish", deadline - time.monotonic())
    while scheduler.active_generations() and time.monotonic() < deadline:
        time.sleep(DRAIN_POLL_SECONDS)
    scheduler.stop()
    services.catalog.stop()
    services.retention.stop()
    # Close the pooled database connections: a restart opens its own, and the old ones would stay
    # open (file handles, locks on a database server) for the life of the process.
    services.database.dispose()


def create_app(settings: Settings, reload_settings: Callable[[], Settings] | None = None) -> FastAPI:
    """The app; `reload_settings` re-reads the configuration's sources for POST /api/system/restart."""
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        report = services.store.recover_interrupted(settings.max_job_attempts)
        if report.requeued or report.failed:
            log.warning(
                "recovered after an unclean stop: %d job(s) requeued, %d failed",
                len(report.requeued),
                len(report.failed),
            )
        services.events.bind(asyncio.get_running_loop())
        start_services(services)
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
            current: Services = app.state.services
            grace = current.settings.restart_grace_seconds
            await asyncio.to_thread(restarter.wait, grace + SHUTDOWN_WAIT_SLACK_SECONDS)
            await asyncio.to_thread(stop_services, app.state.services)

    app = FastAPI(
        title="sdcpp-rest",
        version=__version__,
        description="stable-diffusion.cpp behind a REST API with a durable job queue. "
        'Errors always have the body {"error": {message, code, status_code, request_id, timestamp}}.',
        lifespan=lifespan,
    )
    app.state.services = services

    def replace(new: Services) -> None:
        new.restarter = restarter
        app.state.services = new

    restarter = ServerRestarter(
        current=lambda: app.state.services,
        replace=replace,
        build=lambda new_settings, old: build_services(new_settings, events=old.events, metrics=old.metrics),
        start=start_services,
        stop=stop_services,
        reload_settings=reload_settings,
    )
    services.restarter = restarter
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_request_bytes)
    # Outermost, so it also counts the 413s and 500s the request-context middleware answers itself.
    app.add_middleware(HttpMetricsMiddleware, metrics=services.metrics)
    for router in (
        system.router,
        auth.router,
        generate.router,
        generate_modes.router,
        queue.router,
        files.router,
        utilities.router,
        models.router,
        ops.router,
        image_download.router,
        monitoring.router,
        ws.router,
    ):
        app.include_router(router)
    install_body_schemas(app, generate_modes.BODY_MODELS)
    install_openapi_errors(app)
    return app
