"""Turns job and queue changes into events on the bus (job_update, queue_update, system_update).

It is the scheduler's listener, and JobService tells it of the changes it makes itself (submit,
cancel of a queued job, clear), so every change reaches WebSocket clients and in-process listeners
the same way.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event, JobUpdated, QueueChanged, SystemEvent
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.store import JobStore

# Fields of JobPublic a job_update carries (the spec's names and units: times in milliseconds).
JOB_UPDATE_FIELDS = (
    "status", "phase", "position", "progress", "current_step", "total_steps", "time_elapsed",
    "time_remaining", "speed", "seed", "model_name", "error", "error_code",
)  # fmt: skip
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)


class JobNotifier:
    """A SchedulerListener that publishes typed events on the bus."""

    def __init__(self, store: JobStore, bus: EventBus, presenter: JobPresenter) -> None:
        self._store = store
        self._bus = bus
        self._presenter = presenter

    def job_event(self, job: JobRecord, positions: dict[str, int]) -> JobUpdated:
        public = self._presenter.to_public(job, positions)
        data: dict[str, Any] = {"job_id": job.id, **public.model_dump(include=set(JOB_UPDATE_FIELDS))}
        data["timestamp"] = int(time.time() * 1000)
        if public.download:  # issue 16: a model download's bytes and speed
            data["download"] = public.download.model_dump()
        if public.outputs:
            data["outputs"] = [output.model_dump() for output in public.outputs]
        return JobUpdated(job_id=job.id, owner=job.owner, payload=data)

    def job_added(self, job: JobRecord) -> None:
        """Announce a new job as queued, from the added row itself (not read again). Call it before
        waking a worker: woken first, a worker could claim the job and publish `processing` before
        this, and a WebSocket client would never see it queued (or would see a stale `queued` last)."""
        self.job_changed(job.id, snapshot=job)
        self.queue_changed()

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        job = snapshot or self._store.get(job_id)
        if job is None:
            return
        positions = self._store.queue_positions() if job.status == JobStatus.QUEUED else {}
        event = self.job_event(job, positions)
        if engine_time:
            # When the engine reported this step (ms): lets a client measure delivery delay.
            event.payload["engine_timestamp"] = round(engine_time * 1000, 3)
        self._bus.publish(event)

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        job = self._store.get(job_id)
        if job is None:
            return
        event = self.job_event(job, {})
        event.payload["preview"] = {
            "step": step,
            "mime_type": "image/jpeg",
            "data": base64.b64encode(jpeg).decode(),
        }
        self._bus.publish(event)

    def queue_snapshot(self) -> QueueChanged:
        queued = self._store.list_jobs([JobStatus.QUEUED])
        positions = self._store.queue_positions()  # in the order the scheduling policy runs them
        # Jobs processing anywhere (a job is processing from its claim to its end), read from the
        # store like the queue itself, so both are the same moment's view.
        active = self._store.count_by_status()[JobStatus.PROCESSING]
        return QueueChanged(
            size=len(positions),
            active_generations=active,
            positions=positions,
            position_owners={job.id: job.owner for job in queued},
        )

    def queue_changed(self) -> None:
        self._bus.publish(self.queue_snapshot())

    def system(self, event: SystemEvent) -> None:
        self._bus.publish(event)

    def current_state(self, owner: str | None, job_ids: set[str] | None) -> list[Event]:
        """What a new subscription needs to be up to date: the given jobs (or the active jobs of
        `owner`, everyone's for None) and the queue."""
        positions = self._store.queue_positions()
        if job_ids is None:
            jobs = sorted(self._store.list_jobs(ACTIVE_STATUSES, owner=owner), key=lambda job: job.seq)
        else:
            jobs = [job for job in (self._store.get(job_id) for job_id in job_ids) if job is not None]
        return [*(self.job_event(job, positions) for job in jobs), self.queue_snapshot()]
