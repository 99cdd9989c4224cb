"""Generation endpoints: validate the body, queue a job, answer at once."""

from __future__ import annotations

from fastapi import APIRouter, status

from sdcpp_rest.api.deps import GenerateDep, ServicesDep
from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.schemas.jobs import QueuedReply

router = APIRouter(prefix="/api/generate", tags=["generate"])


@router.post(
    "/text2img",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a text-to-image job",
    description="The job is stored durably before this reply. Follow it with GET /api/queue/job/{job_id}.",
)
def text2img(body: Text2ImgRequest, services: ServicesDep, principal: GenerateDep) -> QueuedReply:
    job = services.generation.submit_text2img(body, principal.user_id)
    services.notifier.job_changed(job.id)
    services.notifier.queue_changed()
    position = services.store.queue_positions().get(job.id, 0)
    return QueuedReply(
        request_id=job.id,
        job_id=job.id,
        status=job.status.value,
        message="Generation request queued successfully",
        position=position,
        seed=job.seed,
    )
