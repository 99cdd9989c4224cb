"""Video endpoints (Wan through the engine's generate_video): txt2vid and img2vid. The job's outputs
are `video.webp` (animated) and every frame as `image_N.png`; progress is per sampling step."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from sdcpp_rest.api.deps import GenerateDep, JobsDep
from sdcpp_rest.api.generate import queued_reply
from sdcpp_rest.api.image_body import body_parser, request_body_doc
from sdcpp_rest.schemas.jobs import QueuedReply
from sdcpp_rest.schemas.video import Img2VidRequest, Txt2VidRequest

BODY_MODELS: list[type[BaseModel]] = [Txt2VidRequest, Img2VidRequest]

router = APIRouter(prefix="/api/generate", tags=["generate"])

_QUEUED = (
    "Needs a Wan model (diffusion_model, or model_name naming it or its model set). The job is "
    "stored durably before this reply (202); follow it with GET /api/queue/job/{job_id}. Its outputs: "
    "video.webp (animated, `fps`) first, then every frame as image_N.png."
)


@router.post(
    "/txt2vid",
    response_model=QueuedReply,
    openapi_extra=request_body_doc(Txt2VidRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a text-to-video job",
    description=_QUEUED,
)
def txt2vid(
    principal: GenerateDep,
    jobs: JobsDep,
    body: Annotated[Txt2VidRequest, Depends(body_parser(Txt2VidRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))


@router.post(
    "/img2vid",
    response_model=QueuedReply,
    openapi_extra=request_body_doc(Img2VidRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an image-to-video job (the video starts from init_image)",
    description=_QUEUED,
)
def img2vid(
    principal: GenerateDep,
    jobs: JobsDep,
    body: Annotated[Img2VidRequest, Depends(body_parser(Img2VidRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))
