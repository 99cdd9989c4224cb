"""The image-input generation endpoints: img2img, inpainting, controlnet, upscale.

Each takes a JSON body or a multipart form with the images as file parts (api/image_body.py).
Handlers are `def`: decoding and writing the input images is blocking work for the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from sdcpp_rest.api.deps import GenerateDep, ServicesDep
from sdcpp_rest.api.image_body import body_parser, request_body_doc
from sdcpp_rest.container import Services
from sdcpp_rest.schemas.generate import ControlNetRequest, Img2ImgRequest, InpaintingRequest, UpscaleRequest
from sdcpp_rest.schemas.jobs import QueuedReply

# Parsed by body_parser rather than FastAPI, so the OpenAPI components get them from the app.
BODY_MODELS: list[type[BaseModel]] = [Img2ImgRequest, InpaintingRequest, ControlNetRequest, UpscaleRequest]

router = APIRouter(prefix="/api/generate", tags=["generate"])

_QUEUED = (
    "The inputs are checked and the job is stored durably before this reply (202). Follow it with "
    "GET /api/queue/job/{job_id}. A bad image is INVALID_PARAMETERS (400), a missing model file "
    "MODEL_NOT_FOUND (404), both naming the field. "
    "Send JSON (images as base64) or multipart/form-data (images as file parts, other fields as form "
    "fields or as JSON in a `request` field)."
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
    openapi_extra=request_body_doc(Img2ImgRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an image-to-image job",
    description=_QUEUED,
)
def img2img(
    principal: GenerateDep,
    services: ServicesDep,
    body: Annotated[Img2ImgRequest, Depends(body_parser(Img2ImgRequest))],
) -> QueuedReply:
    return _queue(services, "img2img", body, principal.user_id)


@router.post(
    "/inpainting",
    response_model=QueuedReply,
    openapi_extra=request_body_doc(InpaintingRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an inpainting job (repaint the mask's white part)",
    description=_QUEUED,
)
def inpainting(
    principal: GenerateDep,
    services: ServicesDep,
    body: Annotated[InpaintingRequest, Depends(body_parser(InpaintingRequest))],
) -> QueuedReply:
    return _queue(services, "inpainting", body, principal.user_id)


@router.post(
    "/controlnet",
    response_model=QueuedReply,
    openapi_extra=request_body_doc(ControlNetRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a ControlNet-guided job (text2img, or img2img with init_image)",
    description=_QUEUED,
)
def controlnet(
    principal: GenerateDep,
    services: ServicesDep,
    body: Annotated[ControlNetRequest, Depends(body_parser(ControlNetRequest))],
) -> QueuedReply:
    return _queue(services, "controlnet", body, principal.user_id)


@router.post(
    "/upscale",
    response_model=QueuedReply,
    openapi_extra=request_body_doc(UpscaleRequest),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an ESRGAN upscale of an image (no checkpoint needed)",
    description=_QUEUED,
)
def upscale(
    principal: GenerateDep,
    services: ServicesDep,
    body: Annotated[UpscaleRequest, Depends(body_parser(UpscaleRequest))],
) -> QueuedReply:
    return _queue(services, "upscale", body, principal.user_id)
