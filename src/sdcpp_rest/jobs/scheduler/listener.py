"""What the scheduler tells the rest of the server: every job, queue and worker change."""

from __future__ import annotations

from typing import Any, Protocol

from sdcpp_rest.jobs.records import JobRecord


class SchedulerListener(Protocol):
    """Told about every change the scheduler makes (the WebSocket layer listens here)."""

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        """`snapshot`, when given, is the job's current state (not yet in the store)."""

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None: ...
    def queue_changed(self) -> None: ...
    def system(self, kind: str, **details: Any) -> None: ...


class NoListener:
    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        pass

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        pass

    def queue_changed(self) -> None:
        pass

    def system(self, kind: str, **details: Any) -> None:
        pass
