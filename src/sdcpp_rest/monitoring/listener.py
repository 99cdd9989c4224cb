"""The metrics' listener on the event bus: finished jobs, model loads, worker starts and crashes."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event, ModelLoaded, WorkerCrashed, WorkerStarted
from sdcpp_rest.jobs.changes import JobChanged
from sdcpp_rest.monitoring.metrics import ServerMetrics, model_label

# Job ids whose end was recorded, so a repeated notice does not count a job twice; a job's end is
# published right after it happens, so a short memory is enough.
RECENT_FINISHED_MEMORY = 1024


class MetricsListener:
    """Records this process's finished jobs (from the job-change event's record, not read again),
    model loads and worker starts/crashes. Events another node relayed are that node's to count."""

    def __init__(self, metrics: ServerMetrics, bus: EventBus) -> None:
        self._metrics = metrics
        self._bus = bus
        self._lock = threading.Lock()
        self._recorded: OrderedDict[str, None] = OrderedDict()
        self._started_workers: set[str] = set()
        bus.add_listener(self.on_event)

    def close(self) -> None:
        """Stop listening (the bus outlives these services across a restart)."""
        self._bus.remove_listener(self.on_event)

    def on_event(self, event: Event) -> None:
        if event.relayed:
            return
        if isinstance(event, JobChanged):
            self._job_changed(event)
            return
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

    def _job_changed(self, event: JobChanged) -> None:
        job = event.job
        if not job.is_final:
            return
        with self._lock:
            if job.id in self._recorded:
                return
            self._recorded[job.id] = None
            if len(self._recorded) > RECENT_FINISHED_MEMORY:
                self._recorded.popitem(last=False)
        self._metrics.record_job(job)
