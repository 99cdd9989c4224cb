"""The typed holder of everything stateful; built by create_app, reached by routes through dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from sdcpp_rest.auth.service import AuthService
from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.config import Settings
from sdcpp_rest.downloads.images import ImageDownloader
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.jobs.estimate import EstimateService
from sdcpp_rest.jobs.generation import GenerationService
from sdcpp_rest.jobs.model_loads import ModelLifecycle
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.retention import OutputRetention
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.monitoring.metrics import ServerMetrics
from sdcpp_rest.ops.restart import ServerRestarter
from sdcpp_rest.ops.version import VersionInfo
from sdcpp_rest.outputs.files import OutputStore


@dataclass
class Services:
    settings: Settings
    database: Engine  # disposed when these services stop (a restart builds a new one)
    store: JobStore
    model_files: ModelFiles
    outputs: OutputStore
    generation: GenerationService
    scheduler: Scheduler
    version: VersionInfo
    events: EventBus
    auth: AuthService
    notifier: JobNotifier
    catalog: CatalogService
    model_lifecycle: ModelLifecycle
    estimator: EstimateService
    metrics: ServerMetrics
    retention: OutputRetention
    downloader: ImageDownloader
    restarter: ServerRestarter | None = None  # set by create_app; the same one across restarts
    started_at: float = field(default_factory=time.time)
