"""Turns scheduler and queue changes into WebSocket events (job_update, queue_update, system_update)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from sdcpp_rest.events.bus import Event, EventBus, job_update, queue_update, system_update
from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.jobs import JobPublic

# Fields of JobPublic a job_update carries (the spec's names and units: times in milliseconds).
JOB_UPDATE_FIELDS = (
    "status", "phase", "position", "progress", "current_step", "total_steps", "time_elapsed",
    "time_remaining", "speed", "seed", "model_name", "error", "error_code",
)  # fmt: skip


class JobNotifier:
    """A SchedulerListener that publishes on the event bus; also called by the queue endpoints."""

    def __init__(
        self,
        store: JobStore,
        bus: EventBus,
        to_public: Callable[[JobRecord, dict[str, int]], JobPublic],
        active_generations: Callable[[], int],
    ) -> None:
        self._store = store
        self._bus = bus
        self._to_public = to_public
        self._active_generations = active_generations

    def job_payload(self, job: JobRecord, positions: dict[str, int]) -> dict[str, Any]:
        public = self._to_public(job, positions)
        data: dict[str, Any] = {"job_id": job.id, **public.model_dump(include=set(JOB_UPDATE_FIELDS))}
        data["timestamp"] = int(time.time() * 1000)
        if public.outputs:
            data["outputs"] = [output.model_dump() for output in public.outputs]
        return data

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        job = snapshot or self._store.get(job_id)
        if job is None:
            return
        positions = self._store.queue_positions() if job.status.value == "queued" else {}
        data = self.job_payload(job, positions)
        if engine_time:
            # When the engine reported this step (ms): lets a client measure delivery delay.
            data["engine_timestamp"] = round(engine_time * 1000, 3)
        self._bus.publish(job_update(data, owner=job.owner))

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        job = self._store.get(job_id)
        if job is None:
            return
        data = self.job_payload(job, {})
        data["preview"] = {"step": step, "mime_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}
        self._bus.publish(job_update(data, owner=job.owner))

    def queue_snapshot(self) -> Event:
        queued = sorted(self._store.list_jobs([JobStatus.QUEUED]), key=lambda job: job.seq)
        positions = {job.id: index + 1 for index, job in enumerate(queued)}
        return queue_update(
            {
                "size": len(positions),
                "active_generations": self._active_generations(),
                "positions": positions,
                "timestamp": int(time.time() * 1000),
            },
            position_owners={job.id: job.owner for job in queued},
        )

    def queue_changed(self) -> None:
        self._bus.publish(self.queue_snapshot())

    def system(self, kind: str, **details: Any) -> None:
        self._bus.publish(system_update(kind, **details))
