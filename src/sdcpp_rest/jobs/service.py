"""JobService: the one way in to jobs for every front door (native API, CLI, compat APIs, web UI).

It checks ownership in one place (a user sees, waits for, cancels and deletes only their own jobs
unless admin), publishes the events of the changes it makes, and answers with typed results. Routers
parse, authorize, make one call here and shape the reply.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.errors import ApiError, JobNotCancellable, JobNotFinished, JobNotFound, ServiceUnavailable
from sdcpp_rest.events.bus import EventBus, Subscription
from sdcpp_rest.events.types import Event, JobUpdated
from sdcpp_rest.jobs.limits import JobLimits, LimitPolicy
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.params import JobMode
from sdcpp_rest.jobs.planning import GenerationRequest, JobPlanner
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.records import FINAL_STATUSES, JobRecord, JobStatus
from sdcpp_rest.jobs.retention import OutputRetention
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.jobs import JobPublic

ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)
# How long a cancel of a running job waits for its worker to end before it answers (the end is
# certain once asked: the worker process is killed; this only lets the reply carry the final state).
CANCEL_WAIT_SECONDS = 5.0


class JobRunner(Protocol):
    """What the service needs of the scheduler."""

    def notify_work(self) -> None: ...
    def cancel_running(self, job_id: str) -> bool: ...
    def active_generations(self) -> int: ...

    @property
    def is_running(self) -> bool: ...


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    mode: JobMode
    status: JobStatus
    position: int
    seed: int


@dataclass(frozen=True)
class QueueView:
    jobs: list[JobPublic]  # queued and running in queue order, then the newest finished
    size: int  # jobs waiting
    active_generations: int
    running: bool


@dataclass(frozen=True)
class CancelResult:
    job_id: str
    status: JobStatus  # cancelled, or processing when its worker has not ended yet


class _FinalWaiters:
    """Threads waiting for jobs to reach a final state, woken by job_update events (no polling)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._finished: set[str] = set()
        self._waiting: dict[str, int] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, JobUpdated) and event.is_final and event.job_id in self._waiting:
            with self._condition:
                self._finished.add(event.job_id)
                self._condition.notify_all()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[Callable[[float], bool]]:
        """Register interest in `job_id` first, then the caller reads the job's state and, if it is
        not final, waits with the yielded function: an event between the read and the wait is kept."""
        with self._condition:
            self._waiting[job_id] = self._waiting.get(job_id, 0) + 1

        def wait(timeout: float) -> bool:
            with self._condition:
                return self._condition.wait_for(lambda: job_id in self._finished, timeout)

        try:
            yield wait
        finally:
            with self._condition:
                self._waiting[job_id] -= 1
                if not self._waiting[job_id]:
                    del self._waiting[job_id]
                    self._finished.discard(job_id)


class _LatestPreviews:
    """The newest live preview of each running job (base64 JPEG), for clients that poll for it
    rather than follow the events; forgotten once the job is final."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._previews: dict[str, str] = {}

    def on_event(self, event: Event) -> None:
        if not isinstance(event, JobUpdated):
            return
        preview = event.update.preview
        with self._lock:
            if event.is_final:
                self._previews.pop(event.job_id, None)
            elif preview is not None:
                self._previews[event.job_id] = preview.data

    def get(self, job_id: str) -> str | None:
        with self._lock:
            return self._previews.get(job_id)


class JobService:
    def __init__(
        self,
        store: JobStore,
        planner: JobPlanner,
        runner: JobRunner,
        notifier: JobNotifier,
        presenter: JobPresenter,
        retention: OutputRetention,
        bus: EventBus,
        limits: LimitPolicy,
    ) -> None:
        self._store = store
        self._limits = limits
        self._planner = planner
        self._runner = runner
        self._notifier = notifier
        self._presenter = presenter
        self._retention = retention
        self._bus = bus
        self._waiters = _FinalWaiters()
        self._previews = _LatestPreviews()
        bus.add_listener(self._waiters.on_event)
        bus.add_listener(self._previews.on_event)

    def close(self) -> None:
        """Stop listening to the bus (the bus outlives these services across a restart)."""
        self._bus.remove_listener(self._waiters.on_event)
        self._bus.remove_listener(self._previews.on_event)

    # --- ownership, in one place ---
    @staticmethod
    def _owner_filter(principal: Principal) -> str | None:
        """None: every job (admins); else the caller's own user id."""
        return principal.job_owner_filter

    def _visible_job(self, job_id: str, principal: Principal) -> JobRecord:
        """The job, if the caller may see it; JOB_NOT_FOUND otherwise (the same answer for a job
        that does not exist and one of another user, so ids cannot be probed)."""
        job = self._store.get(job_id)
        owner = self._owner_filter(principal)
        if job is None or (owner is not None and job.owner != owner):
            raise JobNotFound(f"job {job_id} not found")
        return job

    # --- the front door ---
    def submit(self, request: GenerationRequest, principal: Principal) -> QueuedJob:
        """Check the caller's limits and the request, store its inputs, add the job (a committed row)
        and wake a worker."""
        self._limits.admit(principal, self._store.count_queued(principal.user_id))
        planned = self._planner.plan(request, principal.user_id)
        try:
            self._limits.check_cost(principal, planned)
        except ApiError:
            self._planner.discard(planned)  # its input images are on disk already
            raise
        job = self._store.add(planned)
        position = self._notifier.job_added(job)  # before the wake-up (see job_added)
        self._runner.notify_work()
        return QueuedJob(job.id, job.mode, job.status, position, job.seed)

    def check_visible(self, job_id: str, principal: Principal) -> None:
        """JOB_NOT_FOUND unless the caller may see the job (its owner, or an admin)."""
        self._visible_job(job_id, principal)

    def get(self, job_id: str, principal: Principal) -> JobPublic:
        job = self._visible_job(job_id, principal)
        # Positions cost a scan of the queue: only a queued job has one (clients poll this often).
        positions = self._store.queue_positions() if job.status == JobStatus.QUEUED else {}
        return self._presenter.to_public(job, positions)

    def list(self, principal: Principal, finished_limit: int) -> QueueView:
        owner = self._owner_filter(principal)
        positions = self._store.queue_positions()
        active = sorted(self._store.list_jobs(ACTIVE_STATUSES, owner=owner), key=lambda job: job.seq)
        finished = (
            self._store.list_jobs(FINAL_STATUSES, owner=owner, limit=finished_limit) if finished_limit else []
        )
        return QueueView(
            jobs=[self._presenter.to_public(job, positions) for job in active + finished],
            size=len(positions),
            active_generations=self._runner.active_generations(),
            running=self._runner.is_running,
        )

    def limits_for(self, principal: Principal) -> JobLimits:
        """The limits that apply to the caller (0 = unlimited)."""
        return self._limits.for_principal(principal)

    def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs there are in each status (everyone's: a summary carries no job details)."""
        return self._store.count_by_status()

    def wait(self, job_id: str, principal: Principal, timeout: float) -> JobPublic:
        """The job once it is final, or as it is after `timeout` seconds; woken by its events."""
        with self._waiters.watching(job_id) as wait_until_final:
            if not self._visible_job(job_id, principal).is_final:
                wait_until_final(timeout)
        return self.get(job_id, principal)

    async def updates(
        self, job_id: str, principal: Principal, timeout: float
    ) -> AsyncGenerator[JobUpdated, None]:
        """The job's updates (progress, previews, the final state) as they are published, for callers
        on the event loop: none if the job is already final; the last one is final unless `timeout`
        seconds passed first. Woken by the events themselves, no polling, no thread held."""
        loop = asyncio.get_running_loop()
        # Subscribe before reading the job: an update between the read and the first wait is kept.
        connection = self._bus.connect(
            Subscription(
                job_ids={job_id}, user=principal.user_id, is_admin=self._owner_filter(principal) is None
            )
        )
        try:
            job = await asyncio.to_thread(self._visible_job, job_id, principal)
            if job.is_final:
                return
            deadline = loop.time() + timeout
            while (remaining := deadline - loop.time()) > 0:
                try:
                    event = await asyncio.wait_for(connection.next(), remaining)
                except TimeoutError:
                    return
                if isinstance(event, JobUpdated) and event.job_id == job_id:
                    yield event
                    if event.is_final:
                        return
        finally:
            self._bus.disconnect(connection)

    async def wait_async(self, job_id: str, principal: Principal, timeout: float) -> JobPublic:
        """wait() for callers on the event loop (requests that block until their job is done)."""
        async for _update in self.updates(job_id, principal, timeout):
            pass
        return await asyncio.to_thread(self.get, job_id, principal)

    def latest_preview(self, job_id: str, principal: Principal) -> str | None:
        """The newest live preview (base64 JPEG) of a running job that sends previews, else None."""
        self._visible_job(job_id, principal)
        return self._previews.get(job_id)

    def cancel_running(self, principal: Principal) -> tuple[CancelResult, ...]:
        """Cancel every running job the caller may manage (their own; everyone's for admins); the
        queued ones stay queued."""
        running = self._store.list_jobs([JobStatus.PROCESSING], owner=self._owner_filter(principal))
        results = []
        for job in sorted(running, key=lambda job: job.seq):
            try:
                results.append(self.cancel(job.id, principal))
            except JobNotCancellable:
                pass  # it finished meanwhile
        return tuple(results)

    def cancel(self, job_id: str, principal: Principal) -> CancelResult:
        """Cancel a queued job, or end a running one (its worker process is stopped and replaced)."""
        job = self._visible_job(job_id, principal)
        if self._store.cancel_queued(job_id):
            self._notifier.job_changed(job_id)
            self._notifier.queue_changed()
            return CancelResult(job_id, JobStatus.CANCELLED)
        job = self._store.get(job_id) or job
        if job.status != JobStatus.PROCESSING:
            raise JobNotCancellable(f"job {job_id} is already {job.status.value} and cannot be cancelled")
        with self._waiters.watching(job_id) as wait_until_final:
            # The flag reaches the job's worker wherever it runs (its lease renewal reads it); a
            # worker of this process is stopped at once.
            self._store.request_cancel(job_id)
            self._runner.cancel_running(job_id)
            latest = self._store.get(job_id)
            if latest is not None and not latest.is_final:
                wait_until_final(CANCEL_WAIT_SECONDS)
        latest = self._store.get(job_id)
        return CancelResult(job_id, latest.status if latest else JobStatus.CANCELLED)

    def clear(self, principal: Principal) -> int:
        """Cancel every queued job the caller may manage; how many there were."""
        cleared = self._store.clear_queued(owner=self._owner_filter(principal))
        for job_id in cleared:
            self._notifier.job_changed(job_id)
        self._notifier.queue_changed()
        return len(cleared)

    def delete(self, job_id: str, principal: Principal) -> None:
        """Delete a finished job's row and files."""
        job = self._visible_job(job_id, principal)
        if not job.is_final:
            raise JobNotFinished(f"job {job_id} is {job.status.value}; cancel it before deleting it")
        if not self._retention.delete_job(job):
            # Gone meanwhile (another delete or the retention cleanup), or its files could not be removed.
            if self._store.get(job_id) is None:
                raise JobNotFound(f"job {job_id} not found")
            raise ServiceUnavailable(f"the files of job {job_id} could not be removed; try again later")
