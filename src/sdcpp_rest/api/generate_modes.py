"""The image-input generation endpoints: img2img, inpainting, controlnet, upscale.

Each takes a JSON body or a multipart form with the images as file parts (api/image_body.py).
Handlers are `def`: decoding and writing the input images is blocking work for the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from sdcpp_rest.api.deps import GenerateDep, JobsDep
from sdcpp_rest.api.generate import queued_reply
from sdcpp_rest.api.image_body import body_parser, request_body_doc
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
    jobs: JobsDep,
    body: Annotated[Img2ImgRequest, Depends(body_parser(Img2ImgRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))


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
    jobs: JobsDep,
    body: Annotated[InpaintingRequest, Depends(body_parser(InpaintingRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))


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
    jobs: JobsDep,
    body: Annotated[ControlNetRequest, Depends(body_parser(ControlNetRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))


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
    jobs: JobsDep,
    body: Annotated[UpscaleRequest, Depends(body_parser(UpscaleRequest))],
) -> QueuedReply:
    return queued_reply(jobs.submit(body, principal))
