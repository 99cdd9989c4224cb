"""What the scheduler tells the rest of the server: every job, queue and worker change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sdcpp_rest.events.types import SystemEvent
from sdcpp_rest.jobs.records import JobRecord

log = logging.getLogger(__name__)


class SchedulerListener(Protocol):
    """Told about every change the scheduler makes (the job notifier and the metrics listen here)."""

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        """`snapshot`, when given, is the job's current state (not yet in the store)."""

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None: ...
    def queue_changed(self) -> None: ...
    def system(self, event: SystemEvent) -> None: ...


class NoListener:
    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        pass

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        pass

    def queue_changed(self) -> None:
        pass

    def system(self, event: SystemEvent) -> None:
        pass


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

    def system(self, event: SystemEvent) -> None:
        self._each(lambda listener: listener.system(event))
