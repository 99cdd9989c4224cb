"""Generation endpoints: validate the body, queue a job, answer at once."""

from __future__ import annotations

from fastapi import APIRouter, status

from sdcpp_rest.api.deps import GenerateDep, JobsDep
from sdcpp_rest.jobs.service import QueuedJob
from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.schemas.jobs import QueuedReply

router = APIRouter(prefix="/api/generate", tags=["generate"])


def queued_reply(job: QueuedJob) -> QueuedReply:
    """The 202 answer of every generation endpoint."""
    return QueuedReply(
        request_id=job.job_id,
        job_id=job.job_id,
        status=job.status.value,
        message="Generation request queued successfully"
        if job.mode == "text2img"
        else f"{job.mode.value} request queued successfully",
        position=job.position,
        seed=job.seed,
    )


@router.post(
    "/text2img",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a text-to-image job",
    description="The job is stored durably before this reply. Follow it with GET /api/queue/job/{job_id}.",
)
def text2img(body: Text2ImgRequest, jobs: JobsDep, principal: GenerateDep) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))
