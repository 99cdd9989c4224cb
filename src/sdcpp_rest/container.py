"""Builds every service in dependency order, each with its collaborators passed to its constructor;
starts and stops them. Routes reach the built services through api/deps.py.

The order, and why it has no cycle: storage, files and the event bus first; the job notifier and
the metrics listener (what the scheduler tells) before the scheduler; the catalog and the planner
after it (they ask which models the workers hold); JobService last, on top of all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from sdcpp_rest.auth.service import AuthService
from sdcpp_rest.auth.store import UserStore
from sdcpp_rest.auth.tokens import TokenCodec, load_or_create_secret
from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.catalog.scan import TYPE_FOLDERS, default_type_roots
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.catalog.trash import ModelTrash
from sdcpp_rest.catalog.uploads import ModelUploads
from sdcpp_rest.cluster.commands import CommandBox
from sdcpp_rest.cluster.event_relay import PgEventRelay
from sdcpp_rest.cluster.heartbeat import WorkerHeartbeat, engine_device, node_name
from sdcpp_rest.cluster.local_models import LocalCheckpoints
from sdcpp_rest.cluster.registry import WorkerRegistry
from sdcpp_rest.cluster.remote_workers import RemoteWorkers
from sdcpp_rest.cluster.view import OFFLINE_AFTER_LEASES
from sdcpp_rest.config import Settings
from sdcpp_rest.downloads.images import DownloadPolicy, ImageDownloader
from sdcpp_rest.downloads.models import ModelDownloadPolicy, ModelFetcher
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.jobs.commands import JobCommands
from sdcpp_rest.jobs.download_runner import DownloadRunner
from sdcpp_rest.jobs.estimate import EstimateService
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits
from sdcpp_rest.jobs.leases import LeaseReaper
from sdcpp_rest.jobs.limits import LimitPolicy
from sdcpp_rest.jobs.model_converts import ConvertedModelsListener, ModelConverts
from sdcpp_rest.jobs.model_downloads import ModelDownloads
from sdcpp_rest.jobs.model_loads import ModelLoads
from sdcpp_rest.jobs.model_removal import ModelRemoval
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.planning import JobPlanner
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.queue_order import queue_order
from sdcpp_rest.jobs.records import JobStatus, RecoveryReport
from sdcpp_rest.jobs.retention import OutputRetention
from sdcpp_rest.jobs.runners import RunnerGroup
from sdcpp_rest.jobs.scheduler.scheduler import ENGINE_JOBS, Scheduler
from sdcpp_rest.jobs.service import JobService
from sdcpp_rest.jobs.store import JobStore, SqlJobStore
from sdcpp_rest.monitoring.listener import MetricsListener
from sdcpp_rest.monitoring.metrics import QueueGauges, ServerMetrics
from sdcpp_rest.ops.restart import ServerRestarter
from sdcpp_rest.ops.version import VersionInfo, read_version_info
from sdcpp_rest.outputs.files import OutputStore
from sdcpp_rest.outputs.signing import OutputLinks, OutputUrlSigner, derive_key
from sdcpp_rest.storage.database import PRIVATE_FOLDER_MODE, create_database_engine, is_postgres, migrate
from sdcpp_rest.styles.service import StyleService
from sdcpp_rest.styles.store import StyleStore

log = logging.getLogger(__name__)

# How often a graceful stop looks whether the running jobs have finished.
DRAIN_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Services:
    """Everything stateful of one build; a restart builds a new one (the bus and metrics carry over)."""

    settings: Settings
    database: Engine  # disposed when these services stop
    store: JobStore
    model_files: ModelFiles
    outputs: OutputStore
    output_signer: OutputUrlSigner | None  # None with auth off: output URLs are plain
    bus: EventBus
    metrics: ServerMetrics
    queue_gauges: QueueGauges
    notifier: JobNotifier
    # Listeners of the job-change event (metrics, the rescan after a convert); removed from the bus,
    # which outlives these services, when they stop.
    bus_listeners: tuple[MetricsListener, ConvertedModelsListener]
    scheduler: Scheduler
    catalog: CatalogService
    planner: JobPlanner
    jobs: JobService
    model_loads: ModelLoads
    estimator: EstimateService
    retention: OutputRetention
    auth: AuthService
    downloader: ImageDownloader
    model_trash: ModelTrash
    model_removal: ModelRemoval
    download_runner: DownloadRunner
    model_downloads: ModelDownloads
    model_uploads: ModelUploads
    model_converts: ModelConverts
    styles: StyleService
    version: VersionInfo
    leases: LeaseReaper
    registry: WorkerRegistry
    heartbeat: WorkerHeartbeat | None  # None where this process runs no engine workers
    relay: PgEventRelay | None  # events to and from the other nodes (PostgreSQL only)
    node: str  # this process in the cluster (worker ids and the workers table name it)
    commands: CommandBox | None  # loads, unloads, restarts between processes (PostgreSQL only)
    remote: RemoteWorkers | None  # the other processes' engine workers (PostgreSQL only)
    started_at: float = field(default_factory=time.time)


def server_secret(settings: Settings) -> str:
    """The JWT secret: the setting (the same on every node of a cluster), else the data folder's file."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return secret or load_or_create_secret(settings.data_dir)


def build_auth(settings: Settings, engine: Engine) -> AuthService:
    codec = TokenCodec(server_secret(settings), settings.jwt_expiry_minutes * 60)
    service = AuthService(settings, UserStore(engine), codec)
    service.ensure_first_admin()
    return service


def build_services(
    settings: Settings, bus: EventBus | None = None, metrics: ServerMetrics | None = None
) -> Services:
    """Open storage and build every service; starts nothing. A restart passes the running event bus
    and metrics (WebSocket clients stay connected, counters do not reset)."""
    # The data folder holds the database (password and API key hashes) and the JWT secret: it is
    # created for its owner only (an existing one keeps the permissions its owner gave it).
    settings.data_dir.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    for folder in (settings.models_path, settings.output_path):
        folder.mkdir(parents=True, exist_ok=True)
    type_folders = settings.model_type_folders()
    # Every type's own folder, so that a new user sees where each kind of model goes (issue 22).
    for folders in TYPE_FOLDERS.values():
        type_folders.get(folders[0], settings.models_path / folders[0]).mkdir(parents=True, exist_ok=True)
    assert settings.database_url is not None  # filled in by Settings
    database = create_database_engine(settings.database_url)
    migrate(database)
    store = SqlJobStore(
        database,
        queue_order(settings.scheduling),
        settings.fair_share_window_s,
        lease_seconds=settings.claim_lease_seconds,
    )
    model_files = ModelFiles(settings.models_path, type_folders)
    largest_checkpoint = max(
        (checkpoint.size_bytes for checkpoint in model_files.list_checkpoints()), default=0
    )
    workers = settings.worker_count(largest_checkpoint) if settings.run_workers else 0
    threads = settings.engine_threads_per_worker(max(workers, 1))
    # On a shared (PostgreSQL) database this process is one node of a cluster: its worker ids name
    # the node, and its workers claim only the jobs whose checkpoint this machine has.
    shared = is_postgres(database)
    node = node_name(settings.node_name)
    local_models = LocalCheckpoints(model_files)
    outputs = OutputStore(settings.output_path)
    bus = bus or EventBus()
    metrics = metrics or ServerMetrics()
    # With auth on, the output URLs the server hands out are signed (issue 27); off, they are plain.
    signer = (
        OutputUrlSigner(derive_key(server_secret(settings)), settings.output_url_ttl_seconds)
        if settings.auth_enabled
        else None
    )
    presenter = JobPresenter(store, OutputLinks(signer))
    notifier = JobNotifier(store, bus, presenter)
    commands = JobCommands(model_files, outputs.job_dir, threads)

    def refresh_catalog() -> object:
        return catalog.refresh()

    # Listeners of the job-change event on the bus. Issue 16: a completed convert rescans the catalog
    # (built below; called only once jobs run).
    bus_listeners = (MetricsListener(metrics, bus), ConvertedModelsListener(bus, refresh_catalog))
    scheduler = Scheduler(
        store,
        commands.build,
        notifier,
        commands.model_path,
        worker_count=workers,
        verbose=settings.verbose,
        worker_start_timeout_s=settings.worker_start_timeout_s,
        lease_seconds=settings.claim_lease_seconds,
        worker_prefix=f"{node}/" if shared else "",
        runnable=local_models.runnable if shared else lambda: ENGINE_JOBS,
        idle_unload_s=settings.model_idle_unload_seconds,
    )
    registry = WorkerRegistry(database)
    commands_box = CommandBox(database) if shared else None
    remote = (
        RemoteWorkers(
            commands_box,
            registry,
            own_node=node,
            stale_after_s=OFFLINE_AFTER_LEASES * settings.claim_lease_seconds,
        )
        if commands_box is not None
        else None
    )

    def loaded_paths() -> list[str]:
        """The checkpoints loaded here and, in a cluster, in the other processes (/api/models)."""
        here = scheduler.loaded_models()
        return here if remote is None else [*here, *remote.loaded_paths(model_files)]

    def cancel_running(job_id: str) -> None:
        """End a running job (a forced model delete): the flag reaches its worker wherever it runs,
        a worker of this process is stopped at once."""
        store.request_cancel(job_id)
        scheduler.cancel_running(job_id)

    type_roots = default_type_roots(settings.models_path, type_folders)
    catalog = CatalogService(
        settings.models_path,
        type_roots,
        ModelHashStore(database),
        loaded_paths=loaded_paths,
    )
    # One decoder (one gate) for every image a request brings, whichever API it comes through.
    decoder = ImageDecoder(ImageLimits(settings.max_input_image_bytes, settings.max_input_image_pixels))
    styles = StyleService(StyleStore(database))
    planner = JobPlanner(
        model_files,
        catalog,
        styles,
        outputs.job_dir,
        scheduler.loaded_models,
        default_model=settings.default_model,
        threads_per_worker=threads,
        decoder=decoder,
        default_cache_mode=settings.default_cache_mode,
        default_lora_apply_mode=settings.lora_apply_mode,
        default_speed=settings.default_speed,
        engine_device=lambda: engine_device(scheduler.workers()),
    )
    retention = OutputRetention(
        store,
        settings.output_path,
        max_age_days=settings.output_max_age_days,
        max_total_mb=settings.output_max_total_mb,
        interval_s=settings.output_cleanup_interval_s,
    )
    auth = build_auth(settings, database)
    trash = ModelTrash(settings.models_path, type_roots, settings.model_trash_days)
    download_policy = ModelDownloadPolicy.from_settings(settings)

    def type_folder(kind: str) -> Path:
        """The folder a new model file of `kind` goes to: its type's first (canonical) folder."""
        roots = type_roots.get(kind)
        return roots[0] if roots else settings.models_path / kind

    download_runner = DownloadRunner(store, notifier, ModelFetcher(download_policy), catalog, type_folder)
    return Services(
        settings=settings,
        database=database,
        store=store,
        model_files=model_files,
        outputs=outputs,
        output_signer=signer,
        bus=bus,
        metrics=metrics,
        queue_gauges=QueueGauges(
            store,
            # In a cluster, the jobs running anywhere (as the database sees them), not only here.
            (lambda: store.count_by_status()[JobStatus.PROCESSING])
            if shared
            else scheduler.active_generations,
            login_limiter_entries=lambda: auth.tracked_login_failures,
        ),
        notifier=notifier,
        bus_listeners=bus_listeners,
        scheduler=scheduler,
        catalog=catalog,
        planner=planner,
        jobs=JobService(
            store,
            planner,
            RunnerGroup(scheduler, download_runner),
            notifier,
            presenter,
            retention,
            bus,
            LimitPolicy(settings),
        ),
        model_loads=ModelLoads(scheduler, commands.default_context, remote=remote),
        estimator=EstimateService(store, scheduler, model_files),
        retention=retention,
        auth=auth,
        downloader=ImageDownloader(DownloadPolicy.from_settings(settings), decoder),
        model_trash=trash,
        model_removal=ModelRemoval(
            store, catalog, trash, scheduler.unload_model, commands.model_path, cancel_running
        ),
        download_runner=download_runner,
        model_downloads=ModelDownloads(
            store,
            download_runner.notify_work,
            notifier,
            download_policy.sources,
            type_folder,
            settings.allow_pickle_models,
        ),
        model_converts=ModelConverts(
            store, catalog, scheduler.notify_work, notifier, lambda: model_files.folder("checkpoints")
        ),
        styles=styles,
        model_uploads=ModelUploads(
            catalog,
            type_folder,
            settings.model_download_max_bytes,
            settings.model_min_free_bytes,
            settings.allow_pickle_models,
        ),
        version=read_version_info(),
        leases=LeaseReaper(
            store,
            notifier,
            scheduler.notify_work,
            lease_seconds=settings.claim_lease_seconds,
            max_attempts=settings.max_job_attempts,
        ),
        registry=registry,
        heartbeat=WorkerHeartbeat(
            registry,
            scheduler.workers,
            local_models.names,
            node=node,
            interval_s=settings.claim_lease_seconds / 3,
        )
        if workers
        else None,
        relay=PgEventRelay(settings.database_url, bus, origin=node) if shared else None,
        node=node,
        commands=commands_box,
        remote=remote,
    )


def recover_at_start(services: Services) -> RecoveryReport:
    """Jobs an unclean stop left processing. An embedded SQLite database belongs to this one server:
    every processing job was its own and goes back at once. On a shared PostgreSQL database other
    machines' workers are running jobs: only those whose lease ran out are taken back (the lease
    reaper does the same while the server runs)."""
    if is_postgres(services.database):
        return services.store.expire_leases(services.settings.max_job_attempts)
    return services.store.recover_interrupted(services.settings.max_job_attempts)


def start_services(services: Services) -> None:
    """Start the background work of built services: catalog scan, engine workers, retention."""
    services.metrics.track(services.queue_gauges)
    if services.relay is not None:  # first, so the workers' first events reach the other nodes
        services.relay.start()
    # Header-only scan: seconds even for thousands of files; hashes follow in the background.
    services.catalog.start()
    services.scheduler.start()
    services.retention.start()
    services.leases.start()
    if services.heartbeat is not None:
        services.heartbeat.start()
    services.model_trash.start()
    services.download_runner.start()


def start_worker_services(services: Services) -> None:
    """Start only what runs jobs (`sdcpp-rest worker`): the relay, the engine workers, the lease
    reaper and the heartbeat; the API nodes scan the catalog, clean outputs and run downloads."""
    if services.relay is not None:
        services.relay.start()
    services.scheduler.start()
    services.leases.start()
    if services.heartbeat is not None:
        services.heartbeat.start()


def stop_services(services: Services) -> None:
    """Graceful: no new job starts, a running one may finish within restart_grace_seconds, then it is
    requeued without counting an attempt; workers end."""
    scheduler = services.scheduler
    scheduler.drain()
    deadline = time.monotonic() + services.settings.restart_grace_seconds
    if scheduler.active_generations():
        log.info("waiting up to %.0f s for the running job(s) to finish", deadline - time.monotonic())
    while scheduler.active_generations() and time.monotonic() < deadline:
        time.sleep(DRAIN_POLL_SECONDS)
    services.download_runner.stop()  # a running download is requeued; its part file stays for a resume
    scheduler.stop()
    services.leases.stop()
    if services.heartbeat is not None:
        services.heartbeat.stop()
    services.catalog.stop()
    services.retention.stop()
    services.model_trash.stop()
    services.jobs.close()
    for listener in services.bus_listeners:
        listener.close()
    if services.relay is not None:  # after the workers stopped: their last events still go out
        services.relay.stop()
    try:
        services.metrics.untrack(services.queue_gauges)
    except KeyError:
        pass  # never started
    # Close the pooled database connections: a restart opens its own, and the old ones would stay
    # open (file handles, locks on a database server) for the life of the process.
    services.database.dispose()


class ServicesHolder:
    """The app's current services: the one thing a restart swaps."""

    def __init__(self, services: Services, start: Callable[[Services], None] = start_services) -> None:
        self._current = services
        self._start = start

    @property
    def current(self) -> Services:
        return self._current

    def rebuild(self, settings: Settings) -> None:
        """Build services on `settings` (keeping the bus and metrics), make them current, start them."""
        old = self._current
        new = build_services(settings, bus=old.bus, metrics=old.metrics)
        self._current = new
        self._start(new)

    def stop(self) -> None:
        stop_services(self._current)

    def restarter(self, reload_settings: Callable[[], Settings] | None) -> ServerRestarter:
        """Restarts these services in place (POST /api/system/restart, or a restart command from
        another node of the cluster), announcing it on the bus, which outlives every rebuild."""
        return ServerRestarter(
            current_settings=lambda: self._current.settings,
            stop_current=self.stop,
            start_with=self.rebuild,
            announce=self._current.bus.publish,
            reload_settings=reload_settings,
        )
