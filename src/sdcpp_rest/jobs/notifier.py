"""Turns job and queue changes into events on the bus (job_update, queue_update, system_update).

The one publisher of job changes: the scheduler's slots, the lease reaper, the download runner and
JobService tell it of each change they make, and it publishes one JobChanged (jobs/changes.py) with
the job's record: given as a snapshot, or read here once when the caller has only the id. Every
listener (WebSocket connections, waiters, metrics, the catalog's rescan after a convert) subscribes
on the bus and reads nothing back.
"""

from __future__ import annotations

import base64
import time

from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event, QueueChanged, SystemEvent
from sdcpp_rest.jobs.changes import JobChanged
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.queue_order import QueueState
from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.jobs import JobPreview, JobPublic, JobUpdate

ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)


class JobNotifier:
    """Publishes job, queue and system changes as typed events on the bus."""

    def __init__(self, store: JobStore, bus: EventBus, presenter: JobPresenter) -> None:
        self._store = store
        self._bus = bus
        self._presenter = presenter

    def job_event(
        self,
        job: JobRecord,
        positions: dict[str, int],
        engine_time: float | None = None,
        preview: JobPreview | None = None,
    ) -> JobChanged:
        return self._event(job, self._presenter.to_public(job, positions), engine_time, preview)

    @staticmethod
    def _event(
        job: JobRecord, public: JobPublic, engine_time: float | None = None, preview: JobPreview | None = None
    ) -> JobChanged:
        update = JobUpdate(
            job_id=job.id,
            status=public.status,
            model_name=public.model_name,
            seed=public.seed,
            position=public.position,
            progress=public.progress,
            phase=public.phase,
            current_step=public.current_step,
            total_steps=public.total_steps,
            time_elapsed=public.time_elapsed,
            time_remaining=public.time_remaining,
            speed=public.speed,
            error=public.error,
            error_code=public.error_code,
            timestamp=int(time.time() * 1000),
            download=public.download,  # issue 16: a model download's bytes and speed
            outputs=public.outputs or None,
            # When the engine reported this step (ms): lets a client measure delivery delay.
            engine_timestamp=round(engine_time * 1000, 3) if engine_time else None,
            preview=preview,
        )
        return JobChanged(job_id=job.id, owner=job.owner, update=update, job=job)

    def job_added(self, job: JobRecord) -> int:
        """Announce a new job as queued, from the added row itself (not read again), and the queue
        from one read of it; the job's position. Call it before waking a worker: woken first, a
        worker could claim the job and publish `processing` before this, and a WebSocket client
        would never see it queued (or would see a stale `queued` last)."""
        state = self._store.queue_state()
        # The time left comes from the history the presenter already has: no read on a submit.
        public = self._presenter.to_public(job, state.positions, read_history=False)
        self._bus.publish(self._event(job, public))
        self._bus.publish(self._queue_event(state))
        return state.positions.get(job.id, 0)

    def job_changed(
        self, job_id: str, engine_time: float | None = None, snapshot: JobRecord | None = None
    ) -> None:
        job = snapshot or self._store.get(job_id)
        if job is None:
            return
        positions = self._store.queue_positions() if job.status == JobStatus.QUEUED else {}
        self._bus.publish(self.job_event(job, positions, engine_time))

    def job_preview(self, job_id: str, step: int, jpeg: bytes) -> None:
        job = self._store.get(job_id)
        if job is None:
            return
        preview = JobPreview(step=step, data=base64.b64encode(jpeg).decode())
        self._bus.publish(self.job_event(job, {}, preview=preview))

    def queue_snapshot(self) -> QueueChanged:
        # Jobs processing anywhere (a job is processing from its claim to its end), read with the
        # queue itself, so both are the same moment's view.
        return self._queue_event(self._store.queue_state())

    @staticmethod
    def _queue_event(state: QueueState) -> QueueChanged:
        return QueueChanged(
            size=len(state.positions),
            active_generations=state.processing,
            positions=state.positions,
            position_owners=state.owners,
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
