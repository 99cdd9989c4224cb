"""OpenAI's Images API: generations, edits (inpainting with a mask, img2img without), variations.

Each request is an ordinary job of the durable queue; the call blocks until the job ends (a client
that disconnects cancels it), or with `stream: true` sends server-sent events as the job runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from sdcpp_rest.api.deps import CatalogDep, JobsDep, OutputsDep, PlannerDep, services_of
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.compat.credentials import bearer_principal, requiring
from sdcpp_rest.compat.openai.forms import ImageForm, parse_fields, read_image_form
from sdcpp_rest.compat.openai.mapping import (
    Previews,
    checkpoint_for,
    common_fields,
    encode,
    parse_size,
    reencode,
    response_format,
    text2img,
    validated,
    with_extra_args,
)
from sdcpp_rest.compat.openai.schemas import (
    EditFields,
    GenerationBody,
    ImageData,
    ImageOptions,
    ImagesReply,
    OutputFormat,
    VariationFields,
    sse,
)
from sdcpp_rest.compat.running import (
    ClientGone,
    JobCancelled,
    OutputImage,
    cancel_quietly,
    follow,
    read_outputs,
    submit,
    wait_for_job,
)
from sdcpp_rest.jobs.planning import GenerationRequest
from sdcpp_rest.jobs.service import JobService
from sdcpp_rest.schemas.generate import Img2ImgRequest, InpaintingRequest
from sdcpp_rest.schemas.jobs import JobOutput, JobPublic, JobStatus

router = APIRouter(tags=["images"])
GenerateUser = Annotated[Principal, Depends(requiring(bearer_principal, Permission.GENERATE, "Bearer"))]
# A variation stays close to its image: less denoising than img2img's default.
VARIATION_STRENGTH = 0.6
CLIENT_CLOSED = 499


@dataclass(frozen=True)
class Reply:
    """How to answer: the response format, the image format, the event names when streaming."""

    response_format: str
    output_format: OutputFormat
    compression: int | None
    prompt: str
    event_prefix: str  # image_generation or image_edit
    partial_images: int = 0  # live previews to send when streaming


def _reply_of(options: ImageOptions, prompt: str, event_prefix: str, partial_images: int = 0) -> Reply:
    return Reply(
        response_format(options),
        options.output_format or "png",
        options.output_compression,
        prompt,
        event_prefix,
        partial_images,
    )


def _output_url(request: Request, output: JobOutput) -> str:
    """The URL of the output file, served by the native API (signed when auth is on, issue 27):
    absolute from the `public_url` setting, else relative to the server. Never built from the
    request's Host header, which the client writes (issue 27: a forged Host sent clients to another
    site)."""
    public_url = services_of(request.app).settings.public_url.rstrip("/")
    return f"{public_url}{output.url}"


def _images_reply(request: Request, job: JobPublic, images: list[OutputImage], reply: Reply) -> ImagesReply:
    data = []
    for output, image in zip(job.outputs, images, strict=False):
        if reply.response_format == "url":
            data.append(ImageData(url=_output_url(request, output), revised_prompt=reply.prompt))
        else:
            data.append(
                ImageData(
                    b64_json=encode(image.png, reply.output_format, reply.compression),
                    revised_prompt=reply.prompt,
                )
            )
    width, height = images[0].size if images else (0, 0)
    # A URL points at the file as written: a PNG whatever output_format asked for.
    output_format: OutputFormat = "png" if reply.response_format == "url" else reply.output_format
    return ImagesReply(
        created=int(time.time()), data=data, size=f"{width}x{height}", output_format=output_format
    )


async def _answer(
    request: Request,
    jobs: JobService,
    outputs: OutputsDep,
    native: GenerationRequest,
    principal: Principal,
    reply: Reply,
    stream: bool,
) -> Response | ImagesReply:
    queued = await submit(jobs, native, principal)
    if stream:
        return EventStream(
            _events(request, jobs, outputs, queued.job_id, principal, reply),
            lambda: run_in_threadpool(cancel_quietly, jobs, queued.job_id, principal),
        )
    try:
        job = await wait_for_job(request, jobs, queued.job_id, principal)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED)
    if job.status is JobStatus.CANCELLED:
        raise JobCancelled(job.id)
    images = await run_in_threadpool(read_outputs, outputs, job)
    return await run_in_threadpool(_images_reply, request, job, images, reply)


async def _events(
    request: Request, jobs: JobService, outputs: OutputsDep, job_id: str, principal: Principal, reply: Reply
) -> AsyncGenerator[bytes, None]:
    """partial_image events from the live previews, then one completed event per image (or an error)."""
    index = 0
    async for update in follow(jobs, job_id, principal):
        preview = update.update.preview
        if index < reply.partial_images and preview is not None:
            data = await run_in_threadpool(reencode, preview.data, reply.output_format)
            yield sse(f"{reply.event_prefix}.partial_image", {
                "b64_json": data, "partial_image_index": index, "created_at": int(time.time()),
                "output_format": reply.output_format, "size": "auto", "quality": "auto",
                "background": "opaque",
            })  # fmt: skip
            index += 1
    job = await run_in_threadpool(jobs.get, job_id, principal)
    if job.status is not JobStatus.COMPLETED:
        message = job.error or f"the job ended {job.status}"
        yield sse(
            "error",
            {"error": {"message": message, "type": "server_error", "param": None, "code": job.error_code}},
        )
        return
    for image in await run_in_threadpool(read_outputs, outputs, job):
        data = await run_in_threadpool(encode, image.png, reply.output_format, reply.compression)
        yield sse(f"{reply.event_prefix}.completed", {
            "b64_json": data, "created_at": int(time.time()), "output_format": reply.output_format,
            "size": f"{image.size[0]}x{image.size[1]}", "quality": "auto", "background": "opaque",
            "usage": {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                      "output_tokens": 0, "total_tokens": 0},
        })  # fmt: skip


class EventStream(Response):
    """text/event-stream from `events`; a client that disconnects cancels the job (`on_disconnect`),
    while a server shutdown, which cancels this response, leaves the job to run after the restart."""

    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncGenerator[bytes, None], on_disconnect: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        # A stream has no length: drop the `content-length: 0` Response gives an empty body.
        self.raw_headers = [(name, value) for name, value in self.raw_headers if name != b"content-length"]
        self._events = events
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

        async def produce() -> None:
            async with contextlib.aclosing(self._events) as events:
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        producer, gone = asyncio.ensure_future(produce()), asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({producer, gone}, return_when=asyncio.FIRST_COMPLETED)
            if producer.done():
                producer.result()
            else:
                producer.cancel()
                await self._on_disconnect()
        finally:
            producer.cancel()
            gone.cancel()


@router.post("/images/generations", response_model=ImagesReply, summary="Create images from a prompt")
async def generations(
    request: Request,
    body: GenerationBody,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    catalog: CatalogDep,
    outputs: OutputsDep,
) -> Response | ImagesReply:
    # On a worker thread: finding the default checkpoint lists the checkpoints folder.
    body, _prompt = with_extra_args(body, body.prompt)
    checkpoint = await run_in_threadpool(checkpoint_for, body.model, planner, catalog)
    previews = Previews((body.partial_images or 0) if body.stream else 0)
    native = text2img(body, checkpoint, previews)
    reply = _reply_of(body, body.prompt, "image_generation", previews.count)
    return await _answer(request, jobs, outputs, native, principal, reply, bool(body.stream))


def _image_request(
    form: ImageForm, fields: ImageOptions, prompt: str, quality: str | None, previews: Previews,
    planner: PlannerDep, catalog: CatalogDep, strength: float | None = None,
) -> GenerationRequest:  # fmt: skip
    """Inpainting when the form has a mask, else img2img; the first image is the one worked on."""
    checkpoint = checkpoint_for(fields.model, planner, catalog)
    size = parse_size(fields.size, checkpoint)  # auto: the input image's size
    data = {
        **common_fields(fields, checkpoint, quality, previews),
        "prompt": prompt,
        "init_image": form.images[0],
    }
    if size is not None:
        data.update(width=size[0], height=size[1])
    if strength is not None:
        data["strength"] = strength
    if form.mask is not None:
        return validated(InpaintingRequest, {**data, "mask_image": form.mask})
    return validated(Img2ImgRequest, data)


@router.post("/images/edits", response_model=ImagesReply, summary="Edit an image (a mask's transparent part)")
async def edits(
    request: Request,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    catalog: CatalogDep,
    outputs: OutputsDep,
) -> Response | ImagesReply:
    form = await read_image_form(request, planner.decoder)
    fields, _prompt = with_extra_args(
        parse_fields(EditFields, form.fields), str(form.fields.get("prompt", ""))
    )
    previews = Previews((fields.partial_images or 0) if fields.stream else 0)
    native = await run_in_threadpool(
        _image_request, form, fields, fields.prompt, fields.quality, previews, planner, catalog
    )
    reply = _reply_of(fields, fields.prompt, "image_edit", previews.count)
    return await _answer(request, jobs, outputs, native, principal, reply, bool(fields.stream))


@router.post("/images/variations", response_model=ImagesReply, summary="Variations of an image (img2img)")
async def variations(
    request: Request,
    principal: GenerateUser,
    jobs: JobsDep,
    planner: PlannerDep,
    catalog: CatalogDep,
    outputs: OutputsDep,
) -> Response | ImagesReply:
    form = await read_image_form(request, planner.decoder)
    fields: VariationFields = parse_fields(VariationFields, form.fields)
    unmasked = ImageForm(form.fields, form.images, None)
    native = await run_in_threadpool(
        _image_request, unmasked, fields, "", None, Previews(0), planner, catalog, VARIATION_STRENGTH
    )
    return await _answer(
        request, jobs, outputs, native, principal, _reply_of(fields, "", "image_variation"), False
    )


@router.options("/images/generations", include_in_schema=False)
@router.options("/images/edits", include_in_schema=False)
@router.options("/images/variations", include_in_schema=False)
def image_options() -> Response:
    """A 2xx for clients that probe the endpoint first (SillyTavern's stable-diffusion.cpp source)."""
    return Response(status_code=204, headers={"Allow": "OPTIONS, POST"})
