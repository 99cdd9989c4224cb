"""The server's Prometheus metrics, on a registry of its own.

A per-app CollectorRegistry, never prometheus_client's global one: several apps may live in one process
(tests, a restart building new services), and the global registry refuses a metric name twice.
Job and queue gauges are read from the store at scrape time, so they are right even for jobs that
other processes sharing the database added or finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import PurePath

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.store import JobStore

# A 64x64 test image takes well under a second, a large SDXL image on a CPU many minutes.
GENERATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
NO_MODEL = "none"


def model_label(model: str | None) -> str:
    """The file name only: short, and no server folder ends up in a label."""
    return PurePath(model).name if model else NO_MODEL


class QueueGauges:
    """Gauges computed from one job store (and the login limiter) when /metrics is scraped. The
    container registers one per build of the services and unregisters it when they stop (a restart
    builds a new store)."""

    def __init__(
        self,
        store: JobStore,
        active_generations: Callable[[], int],
        login_limiter_entries: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        self._active_generations = active_generations
        self._login_limiter_entries = login_limiter_entries

    def collect(self) -> Iterator[Metric]:
        counts = self._store.count_by_status()
        jobs = GaugeMetricFamily("sdcpp_rest_jobs", "Jobs in the store, by state.", labels=["state"])
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "sdcpp_rest_queue_length", "Jobs waiting in the queue.", value=counts.get(JobStatus.QUEUED, 0)
        )
        yield GaugeMetricFamily(
            "sdcpp_rest_active_generations",
            "Jobs running on an engine worker now.",
            value=self._active_generations(),
        )
        if self._login_limiter_entries is not None:
            yield GaugeMetricFamily(
                "sdcpp_rest_login_limiter_entries",
                "Sources, users and source-user pairs with failed logins in the last minute (bounded).",
                value=self._login_limiter_entries(),
            )


class ServerMetrics:
    """Every metric of one app; kept across a restart of the services so counters do not reset."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter(
            "sdcpp_rest_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "sdcpp_rest_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.generation_seconds = Histogram(
            "sdcpp_rest_generation_seconds",
            "Wall time of completed jobs from start to finish (model load included), by model and mode.",
            ["model", "mode"],
            buckets=GENERATION_BUCKETS,
            registry=registry,
        )
        self.step_seconds = Histogram(
            "sdcpp_rest_step_seconds",
            "Average seconds per sampling step of each completed job, by model.",
            ["model"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.sampling_steps = Counter(
            "sdcpp_rest_sampling_steps",
            "Sampling steps of completed jobs, by model (its rate is the step speed).",
            ["model"],
            registry=registry,
        )
        self.jobs_run = Counter(
            "sdcpp_rest_jobs_run",
            "Jobs an engine worker ran to an end, by final status.",
            ["status"],
            registry=registry,
        )
        self.model_load_seconds = Histogram(
            "sdcpp_rest_model_load_seconds",
            "Model loads and their duration, by model.",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.worker_starts = Counter(
            "sdcpp_rest_worker_starts", "Engine worker processes started.", registry=registry
        )
        self.worker_restarts = Counter(
            "sdcpp_rest_worker_restarts",
            "Engine worker processes started to replace one that ended (crash, cancel, failed load).",
            registry=registry,
        )
        self.worker_crashes = Counter(
            "sdcpp_rest_worker_crashes", "Engine worker processes that died unexpectedly.", registry=registry
        )

    def track(self, gauges: QueueGauges) -> None:
        """Report `gauges` from now on (the services' store)."""
        self.registry.register(gauges)

    def untrack(self, gauges: QueueGauges) -> None:
        self.registry.unregister(gauges)

    def record_job(self, job: JobRecord) -> None:
        """Count a job that a worker ran to its end; called once per job."""
        self.jobs_run.labels(job.status.value).inc()
        if job.status is not JobStatus.COMPLETED or job.started_at is None or job.finished_at is None:
            return
        model = model_label(job.model_name)
        self.generation_seconds.labels(model, job.mode.value).observe(
            max(job.finished_at - job.started_at, 0.0)
        )
        if job.step_seconds:
            self.step_seconds.labels(model).observe(job.step_seconds)
        self.sampling_steps.labels(model).inc(job.total_steps)

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
