"""Queue endpoints: list, inspect, cancel, clear, delete."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from sdcpp_rest.api.deps import QueueManageDep, QueueReadDep, ServicesDep
from sdcpp_rest.api.query_types import QueryInt
from sdcpp_rest.errors import (
    InvalidParameters,
    JobNotCancellable,
    JobNotFinished,
    JobNotFound,
    ServiceUnavailable,
)
from sdcpp_rest.jobs.records import FINAL_STATUSES, JobStatus
from sdcpp_rest.outputs.files import is_job_id
from sdcpp_rest.schemas.jobs import CancelRequest, JobPublic, QueueBody, QueueStatusReply, StatusReply

router = APIRouter(prefix="/api/queue", tags=["queue"])

ACTIVE = (JobStatus.QUEUED, JobStatus.PROCESSING)
# A job claimed by a worker slot is briefly "processing" before the slot records it as its own.
CANCEL_HANDOFF_WAIT_SECONDS = 2.0


def _read_scope(principal: QueueReadDep) -> str | None:
    """Whose jobs the caller may see: None = everyone's (admins), else their own user id."""
    return principal.job_owner_filter


def _manage_scope(principal: QueueManageDep) -> str | None:
    """Whose jobs the caller may cancel or clear: None = everyone's (admins), else their own."""
    return principal.job_owner_filter


ReadScope = Annotated[str | None, Depends(_read_scope)]
ManageScope = Annotated[str | None, Depends(_manage_scope)]


def _require_job_id(job_id: str, field: str = "jobId") -> str:
    if not is_job_id(job_id):
        raise InvalidParameters(f"{field} must be a job id (a UUID such as the one text2img returned)")
    return job_id


@router.get("/status", response_model=QueueStatusReply, summary="Queue summary and jobs")
def queue_status(
    services: ServicesDep,
    owner: ReadScope,
    limit: Annotated[
        QueryInt, Query(ge=0, le=1000, description="Finished jobs to include, newest first (0 = none).")
    ] = 50,
) -> QueueStatusReply:
    store = services.store
    positions = store.queue_positions()
    active = store.list_jobs(ACTIVE, owner=owner)
    finished = store.list_jobs(FINAL_STATUSES, owner=owner, limit=limit) if limit else []
    active.sort(key=lambda job: job.seq)
    jobs = [services.generation.to_public(job, positions) for job in active + finished]
    return QueueStatusReply(
        queue=QueueBody(
            size=len(positions),
            active_generations=services.scheduler.active_generations(),
            running=not services.scheduler.stopping.is_set(),
            jobs=jobs,
        )
    )


@router.get("/job/{job_id}", response_model=JobPublic, summary="One job in detail")
def get_job(job_id: str, services: ServicesDep, owner: ReadScope) -> JobPublic:
    job = services.store.get(_require_job_id(job_id))
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"job {job_id} not found")
    # Positions cost a scan of the queue: only a queued job has one (clients poll this route often).
    positions = services.store.queue_positions() if job.status == JobStatus.QUEUED else {}
    return services.generation.to_public(job, positions)


@router.delete("/job/{job_id}", response_model=StatusReply, summary="Delete a finished job and its files")
def delete_job(job_id: str, services: ServicesDep, owner: ManageScope) -> StatusReply:
    job = services.store.get(_require_job_id(job_id))
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"job {job_id} not found")
    if not job.is_final:
        raise JobNotFinished(f"job {job_id} is {job.status.value}; cancel it before deleting it")
    if not services.retention.delete_job(job):
        # Gone meanwhile (another delete or the retention cleanup), or its files could not be removed.
        if services.store.get(job_id) is None:
            raise JobNotFound(f"job {job_id} not found")
        raise ServiceUnavailable(f"the files of job {job_id} could not be removed; try again later")
    return StatusReply(status="success", message="Job deleted", job_id=job_id)


@router.post("/cancel", response_model=StatusReply, summary="Cancel a queued or running job")
def cancel(body: CancelRequest, services: ServicesDep, owner: ManageScope) -> StatusReply:
    store = services.store
    job_id = _require_job_id(body.job_id, field="job_id")
    job = store.get(job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"job {job_id} not found")
    if store.cancel_queued(job_id):
        services.notifier.job_changed(job_id)
        services.notifier.queue_changed()
        return StatusReply(status="success", message="Job cancelled successfully", job_id=job_id)
    deadline = time.monotonic() + CANCEL_HANDOFF_WAIT_SECONDS
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is None or job.status != JobStatus.PROCESSING:
            break
        if services.scheduler.cancel_running(job_id):
            # The slot records `cancelled` once the worker process has ended; wait for it briefly.
            while time.monotonic() < deadline:
                job = store.get(job_id)
                if job is not None and job.status != JobStatus.PROCESSING:
                    break
                time.sleep(0.05)
            return StatusReply(status="success", message="Job cancelled successfully", job_id=job_id)
        time.sleep(0.05)
    job = store.get(job_id)
    state = job.status.value if job else "gone"
    raise JobNotCancellable(f"job {job_id} is already {state} and cannot be cancelled")


@router.post("/clear", response_model=StatusReply, summary="Remove every queued job")
def clear(services: ServicesDep, owner: ManageScope) -> StatusReply:
    cleared = services.store.clear_queued(owner=owner)
    for job_id in cleared:
        services.notifier.job_changed(job_id)
    services.notifier.queue_changed()
    return StatusReply(status="success", message="Queue cleared successfully", cleared=len(cleared))
