"""The image-input generation endpoints: img2img, inpainting, controlnet, upscale.

Handlers are `def`: decoding and writing the input images is blocking work for the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from sdcpp_rest.api.deps import GenerateDep, ServicesDep
from sdcpp_rest.mode_schemas import ControlNetRequest, Img2ImgRequest, InpaintingRequest, UpscaleRequest
from sdcpp_rest.schemas import QueuedReply
from sdcpp_rest.services import Services

router = APIRouter(prefix="/api/generate", tags=["generate"])

_QUEUED = (
    "The inputs are checked and the job is stored durably before this reply (202). Follow it with "
    "GET /api/queue/job/{job_id}. A bad image or unknown model file is INVALID_PARAMETERS naming the field."
)


def _queue(services: Services, mode: str, body: BaseModel, owner: str | None) -> QueuedReply:
    assert isinstance(body, Img2ImgRequest | UpscaleRequest)
    job = services.generation.submit_mode(mode, body, owner)
    services.notifier.job_changed(job.id)
    services.notifier.queue_changed()
    return QueuedReply(
        request_id=job.id,
        job_id=job.id,
        status=job.status.value,
        message=f"{mode} request queued successfully",
        position=services.store.queue_positions().get(job.id, 0),
        seed=job.seed,
    )


@router.post(
    "/img2img",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an image-to-image job",
    description=_QUEUED,
)
def img2img(body: Img2ImgRequest, services: ServicesDep, principal: GenerateDep) -> QueuedReply:
    return _queue(services, "img2img", body, principal.user_id)


@router.post(
    "/inpainting",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an inpainting job (repaint the mask's white part)",
    description=_QUEUED,
)
def inpainting(body: InpaintingRequest, services: ServicesDep, principal: GenerateDep) -> QueuedReply:
    return _queue(services, "inpainting", body, principal.user_id)


@router.post(
    "/controlnet",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a ControlNet-guided job (text2img, or img2img with init_image)",
    description=_QUEUED,
)
def controlnet(body: ControlNetRequest, services: ServicesDep, principal: GenerateDep) -> QueuedReply:
    return _queue(services, "controlnet", body, principal.user_id)


@router.post(
    "/upscale",
    response_model=QueuedReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an ESRGAN upscale of an image (no checkpoint needed)",
    description=_QUEUED,
)
def upscale(body: UpscaleRequest, services: ServicesDep, principal: GenerateDep) -> QueuedReply:
    return _queue(services, "upscale", body, principal.user_id)
