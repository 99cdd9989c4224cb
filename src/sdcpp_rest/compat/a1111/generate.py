"""AUTOMATIC1111's generation routes: txt2img, img2img, extras (ESRGAN upscaling) and png-info.

Each generation is an ordinary job of the durable queue (it shows in /api/queue/status, survives a
restart, can be followed and cancelled); the call blocks until the job ends, as A1111's do, and a
client that disconnects cancels its job.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from sdcpp_rest.api.deps import CatalogDep, JobsDep, OutputsDep, PlannerDep
from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.compat.a1111.deps import GenerateUser, OptionsDep
from sdcpp_rest.compat.a1111.extras import png_parameters, resized, resized_output, target_sizes
from sdcpp_rest.compat.a1111.mapping import info_of, parameters_of, to_native
from sdcpp_rest.compat.a1111.options import OptionsStore
from sdcpp_rest.compat.a1111.schemas import (
    ExtraBatchBody,
    ExtraSingleBody,
    GenerationReply,
    Img2ImgBody,
    PngInfoBody,
    Txt2ImgBody,
)
from sdcpp_rest.compat.a1111.vocab import NO_UPSCALER, PIXEL_UPSCALERS
from sdcpp_rest.compat.checkpoints import default_checkpoint, find_checkpoint
from sdcpp_rest.compat.running import (
    ClientGone,
    cancel_quietly,
    read_outputs,
    run_job,
    submit,
    wait_for_job,
)
from sdcpp_rest.errors import ModelNotFound
from sdcpp_rest.jobs.planning import JobPlanner
from sdcpp_rest.schemas.generate import UpscaleRequest

router = APIRouter(tags=["generation"])
# What a request answers when its client has gone (nobody reads it; nginx's "client closed request").
CLIENT_CLOSED = 499


def _checkpoint(
    body: Txt2ImgBody, principal: Principal, store: OptionsStore, planner: JobPlanner, catalog: CatalogDep
) -> ModelView | None:
    """override_settings' checkpoint (kept as the user's choice unless restored afterwards), else
    the user's choice (while it exists), else the server's default."""
    requested = body.override_settings.get("sd_model_checkpoint")
    if requested:
        view = find_checkpoint(catalog, str(requested))
        if not body.override_settings_restore_afterwards:
            store.update(principal.user_id, checkpoint=view.model.name)
        return view
    chosen = store.get(principal.user_id).checkpoint
    if chosen:
        try:
            return find_checkpoint(catalog, chosen)
        except ModelNotFound:
            pass  # removed since it was chosen: the default it is
    return default_checkpoint(planner, catalog)


async def _generate(
    request: Request,
    body: Txt2ImgBody,
    principal: Principal,
    jobs: JobsDep,
    planner: JobPlanner,
    catalog: CatalogDep,
    outputs: OutputsDep,
    store: OptionsStore,
) -> GenerationReply | Response:
    # On a worker thread: finding the default checkpoint lists the checkpoints folder.
    checkpoint = await run_in_threadpool(_checkpoint, body, principal, store, planner, catalog)
    native = to_native(body, store.get(principal.user_id), checkpoint.model.name if checkpoint else None)
    try:
        job = await run_job(request, jobs, native, principal)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED)
    images = await run_in_threadpool(read_outputs, outputs, job)
    info = info_of(body, job, images, checkpoint)
    return GenerationReply(
        images=[image.base64 for image in images] if body.send_images else [],
        parameters=parameters_of(body),
        info=json.dumps(info),
    )


@router.post("/txt2img", response_model=GenerationReply, summary="Text to image (blocks until done)")
async def txt2img(
    request: Request,
    body: Txt2ImgBody,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    catalog: CatalogDep,
    outputs: OutputsDep,
    store: OptionsDep,
) -> GenerationReply | Response:
    return await _generate(request, body, principal, jobs, planner, catalog, outputs, store)


@router.post("/img2img", response_model=GenerationReply, summary="Image to image; inpainting with a mask")
async def img2img(
    request: Request,
    body: Img2ImgBody,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    catalog: CatalogDep,
    outputs: OutputsDep,
    store: OptionsDep,
) -> GenerationReply | Response:
    return await _generate(request, body, principal, jobs, planner, catalog, outputs, store)


async def _upscale_all(
    request: Request,
    body: ExtraSingleBody,
    images: list[str],
    principal: Principal,
    jobs: JobsDep,
    planner: PlannerDep,
    outputs: OutputsDep,
) -> list[str] | None:
    """The images upscaled as A1111's extras would: an ESRGAN model from models/esrgan runs as a job
    (one per image, all queued first), then the result is resized to the requested size; Lanczos and
    Nearest are plain resizes, None leaves the image as it is. None if the client went away."""
    decoder = planner.decoder
    targets = await run_in_threadpool(target_sizes, decoder, body, images)
    name = (body.upscaler_1 or NO_UPSCALER).strip()
    if name == NO_UPSCALER:
        return [
            await run_in_threadpool(resized, decoder, image, None, Image.Resampling.LANCZOS)
            for image in images
        ]
    if name in PIXEL_UPSCALERS:
        resample = Image.Resampling.LANCZOS if name == "Lanczos" else Image.Resampling.NEAREST
        return [
            await run_in_threadpool(resized, decoder, image, target, resample)
            for image, target in zip(images, targets, strict=True)
        ]
    queued = [
        await submit(jobs, UpscaleRequest(upscaler=name, image=image, upscale_factor=1), principal)
        for image in images
    ]
    results = []
    try:
        for job, target in zip(queued, targets, strict=True):
            finished = await wait_for_job(request, jobs, job.job_id, principal)
            written = await run_in_threadpool(read_outputs, outputs, finished)
            results.append(await run_in_threadpool(resized_output, decoder, written[0].png, target))
    except ClientGone:
        for job in queued:
            await run_in_threadpool(cancel_quietly, jobs, job.job_id, principal)
        return None
    return results


@router.post(
    "/extra-single-image", response_model=None, summary="Upscale one image (ESRGAN models from models/esrgan)"
)
async def extra_single_image(
    request: Request,
    body: ExtraSingleBody,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    outputs: OutputsDep,
) -> dict[str, Any] | Response:
    results = await _upscale_all(request, body, [body.image], principal, jobs, planner, outputs)
    if results is None:
        return Response(status_code=CLIENT_CLOSED)
    return {"html_info": "", "image": results[0]}


@router.post("/extra-batch-images", response_model=None, summary="Upscale several images")
async def extra_batch_images(
    request: Request,
    body: ExtraBatchBody,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    outputs: OutputsDep,
) -> dict[str, Any] | Response:
    images = [item.data for item in body.imageList]
    results = await _upscale_all(request, body, images, principal, jobs, planner, outputs)
    if results is None:
        return Response(status_code=CLIENT_CLOSED)
    return {"html_info": "", "images": results}


@router.post("/png-info", summary="The generation parameters stored in a PNG")
def png_info(body: PngInfoBody, _principal: GenerateUser, planner: PlannerDep) -> dict[str, Any]:
    return png_parameters(planner.decoder, body)
