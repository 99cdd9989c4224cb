"""The scheduler listener that feeds the metrics."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sdcpp_rest.events.types import ModelLoaded, SystemEvent, WorkerCrashed, WorkerStarted
from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.monitoring.metrics import ServerMetrics, model_label

# Job ids whose end was recorded, so a repeated notice does not count a job twice; a job's end is
# notified right after it happens, so a short memory is enough.
RECENT_FINISHED_MEMORY = 1024


class MetricsListener:
    """A SchedulerListener recording finished jobs, model loads and worker starts/crashes."""

    def __init__(self, store: JobStore, metrics: ServerMetrics) -> None:
        self._store = store
        self._metrics = metrics
        self._lock = threading.Lock()
        self._recorded: OrderedDict[str, None] = OrderedDict()
        self._started_workers: set[str] = set()

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        if snapshot is not None:
            return  # a step of a running job: nothing ends here, and no store read per step
        job = self._store.get(job_id)
        if job is None or not job.is_final:
            return
        with self._lock:
            if job_id in self._recorded:
                return
            self._recorded[job_id] = None
            if len(self._recorded) > RECENT_FINISHED_MEMORY:
                self._recorded.popitem(last=False)
        self._metrics.record_job(job)

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        pass

    def queue_changed(self) -> None:
        pass  # the queue gauges are read from the store at scrape time

    def system(self, event: SystemEvent) -> None:
        metrics = self._metrics
        if isinstance(event, ModelLoaded):
            metrics.model_load_seconds.labels(model_label(event.model)).observe(event.seconds or 0.0)
        elif isinstance(event, WorkerStarted):
            metrics.worker_starts.inc()
            with self._lock:
                restarted = event.worker_id in self._started_workers
                self._started_workers.add(event.worker_id)
            if restarted:
                metrics.worker_restarts.inc()
        elif isinstance(event, WorkerCrashed):
            metrics.worker_crashes.inc()
