"""The lease reaper: a thread, in every process that holds the queue (API nodes and workers alike),
that gives the jobs of a vanished worker back to the queue.

A worker renews the lease of each job it runs (jobs/scheduler/slot.py). When a lease runs out, its
holder died, hung or lost the network; the reaper requeues the job (counting the attempt) or, once
it has been started max_job_attempts times, fails it with the reason, as start-up recovery does
after a crash on one machine. Several reapers may run at once: each write is conditional on the
token and expiry it saw, so a job is requeued once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.records import RecoveryReport
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.storage.outage import log_failed_turn

log = logging.getLogger(__name__)

# A reaper looks twice per lease, never more often than this (a lease of a second or less is a test's).
MIN_INTERVAL_SECONDS = 0.2


class LeaseReaper:
    def __init__(
        self,
        store: JobStore,
        listener: JobNotifier,
        wake_workers: Callable[[], None],
        *,
        lease_seconds: float,
        max_attempts: int,
    ) -> None:
        self._store = store
        self._listener = listener
        self._wake_workers = wake_workers
        self._interval = max(lease_seconds / 2, MIN_INTERVAL_SECONDS)
        self._max_attempts = max_attempts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lease-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reap(self) -> RecoveryReport:
        """One pass: requeue or fail every job whose lease ran out, and tell who listens."""
        report = self._store.expire_leases(self._max_attempts)
        for job_id in report.requeued:
            log.warning("job %s: its worker stopped renewing its claim; requeued", job_id)
        for job_id in report.failed:
            log.error("job %s: its worker stopped renewing its claim again; failed", job_id)
        for job_id in (*report.requeued, *report.failed):
            self._listener.job_changed(job_id)
        if report.requeued or report.failed:
            self._listener.queue_changed()
        if report.requeued:
            self._wake_workers()
        return report

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.reap()
            except Exception as exc:  # the database may be briefly away: try again next time
                log_failed_turn(log, "lease reaper", exc, self._interval)
