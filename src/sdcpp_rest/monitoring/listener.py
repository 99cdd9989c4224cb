"""Scheduler listeners: the one that feeds the metrics, and the fan-out that lets several listen."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.scheduler.listener import SchedulerListener
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.monitoring.metrics import ServerMetrics, model_label

log = logging.getLogger(__name__)

# Job ids whose end was recorded, so a repeated notice does not count a job twice; a job's end is
# notified right after it happens, so a short memory is enough.
RECENT_FINISHED_MEMORY = 1024


class FanOutListener:
    """Passes every scheduler notice to each listener in turn. A listener that raises is logged and
    skipped: a metrics bug must not fail the job whose progress it was told about."""

    def __init__(self, *listeners: SchedulerListener) -> None:
        self._listeners = listeners

    def _each(self, call: Callable[[SchedulerListener], None]) -> None:
        for listener in self._listeners:
            try:
                call(listener)
            except Exception:
                log.exception("scheduler listener %s failed", type(listener).__name__)

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        self._each(lambda listener: listener.job_changed(job_id, engine_time, snapshot))

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        self._each(lambda listener: listener.job_preview(job_id, step, jpeg))

    def queue_changed(self) -> None:
        self._each(lambda listener: listener.queue_changed())

    def system(self, kind: str, **details: Any) -> None:
        self._each(lambda listener: listener.system(kind, **details))


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

    def system(self, kind: str, **details: Any) -> None:
        metrics = self._metrics
        if kind == "model_loaded":
            seconds = details.get("seconds")
            metrics.model_load_seconds.labels(model_label(details.get("model"))).observe(
                float(seconds) if seconds else 0.0
            )
        elif kind == "worker_started":
            worker_id = str(details.get("worker_id"))
            metrics.worker_starts.inc()
            with self._lock:
                restarted = worker_id in self._started_workers
                self._started_workers.add(worker_id)
            if restarted:
                metrics.worker_restarts.inc()
        elif kind == "worker_crashed":
            metrics.worker_crashes.inc()
