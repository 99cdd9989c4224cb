"""Queue endpoints: list, inspect, cancel, clear, delete. Ownership is JobService's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sdcpp_rest.api.deps import JobsDep, QueueManageDep, QueueReadDep
from sdcpp_rest.api.query_types import QueryInt
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.outputs.files import is_job_id
from sdcpp_rest.schemas.jobs import CancelRequest, JobPublic, QueueBody, QueueStatusReply, StatusReply

router = APIRouter(prefix="/api/queue", tags=["queue"])


def _require_job_id(job_id: str, field: str = "jobId") -> str:
    if not is_job_id(job_id):
        raise InvalidParameters(
            f"{field} must be a job id (a UUID such as the one text2img returned)", field=field
        )
    return job_id


@router.get("/status", response_model=QueueStatusReply, summary="Queue summary and jobs")
def queue_status(
    jobs: JobsDep,
    principal: QueueReadDep,
    limit: Annotated[
        QueryInt, Query(ge=0, le=1000, description="Finished jobs to include, newest first (0 = none).")
    ] = 50,
) -> QueueStatusReply:
    view = jobs.list(principal, finished_limit=limit)
    return QueueStatusReply(
        queue=QueueBody(
            size=view.size, active_generations=view.active_generations, running=view.running, jobs=view.jobs
        )
    )


@router.get("/job/{job_id}", response_model=JobPublic, summary="One job in detail")
def get_job(job_id: str, jobs: JobsDep, principal: QueueReadDep) -> JobPublic:
    return jobs.get(_require_job_id(job_id), principal)


@router.delete("/job/{job_id}", response_model=StatusReply, summary="Delete a finished job and its files")
def delete_job(job_id: str, jobs: JobsDep, principal: QueueManageDep) -> StatusReply:
    jobs.delete(_require_job_id(job_id), principal)
    return StatusReply(status="success", message="Job deleted", job_id=job_id)


@router.post("/cancel", response_model=StatusReply, summary="Cancel a queued or running job")
def cancel(body: CancelRequest, jobs: JobsDep, principal: QueueManageDep) -> StatusReply:
    result = jobs.cancel(_require_job_id(body.job_id, field="job_id"), principal)
    return StatusReply(status="success", message="Job cancelled successfully", job_id=result.job_id)


@router.post("/clear", response_model=StatusReply, summary="Remove every queued job")
def clear(jobs: JobsDep, principal: QueueManageDep) -> StatusReply:
    cleared = jobs.clear(principal)
    return StatusReply(status="success", message="Queue cleared successfully", cleared=cleared)
