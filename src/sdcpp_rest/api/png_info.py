"""POST /api/png-info: the generation parameters a PNG carries, in this API's fields.

Public, like /api/validate and within its limits: a guest's body is at most SMALL_BODY_BYTES and the
PNG's header may claim at most GUEST_MAX_IMAGE_PIXELS. No pixel is decoded (outputs/png_info reads the
chunk structure), but the work runs on a worker thread inside the decode gate like every request image.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from sdcpp_rest.api.deps import PlannerDep, SettingsDep
from sdcpp_rest.api.json_body import SMALL_BODY_BYTES, is_json_content_type, parse_json_off_loop, read_body
from sdcpp_rest.api.utilities import GUEST_MAX_IMAGE_PIXELS, OptionalPrincipal, checks_everything
from sdcpp_rest.errors import InvalidParameters, UnsupportedMediaType
from sdcpp_rest.jobs.image_decoding import base64_image_data
from sdcpp_rest.outputs.png_info.reader import read_png_info
from sdcpp_rest.schemas.png_info import PngInfoReply, PngInfoRequest

router = APIRouter(prefix="/api", tags=["utilities"])

IMAGE_FIELD = "image"
PNG_ONLY = {"PNG": "image/png"}
# The form holds the image and nothing else; a few parts more are a client's extra fields, refused.
MAX_FORM_PARTS = 4
GUEST_PIXELS_NOTE = " (the limit for guests; authenticate to read larger images)"


@dataclass(frozen=True)
class PngUpload:
    """The request's PNG bytes and the pixel limit that applies to its caller."""

    data: bytes
    max_pixels: int
    pixels_note: str

    def info(self) -> PngInfoReply:
        """Blocking: call on a worker thread, inside the decode gate."""
        return read_png_info(self.data, self.max_pixels, IMAGE_FIELD, self.pixels_note)


async def png_upload(
    request: Request, principal: OptionalPrincipal, settings: SettingsDep, planner: PlannerDep
) -> PngUpload:
    """The PNG of a JSON body ({"image": base64}) or of a multipart form's `image` part."""
    full = checks_everything(principal)
    max_bytes = planner.input_limits.max_bytes
    max_pixels, note = planner.input_limits.max_pixels, ""
    if not full and max_pixels > GUEST_MAX_IMAGE_PIXELS:
        max_pixels, note = GUEST_MAX_IMAGE_PIXELS, GUEST_PIXELS_NOTE
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data" and not is_json_content_type(content_type):
        raise UnsupportedMediaType(
            f"content type {content_type} is not accepted: send application/json or multipart/form-data"
        )
    raw = await read_body(request, settings.max_request_bytes if full else SMALL_BODY_BYTES)
    if content_type == "multipart/form-data":
        return PngUpload(await _form_image(request, raw, max_bytes), max_pixels, note)
    body = await parse_json_off_loop(raw)
    try:
        image = PngInfoRequest.model_validate(body).image
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    data = await run_in_threadpool(base64_image_data, IMAGE_FIELD, image, max_bytes, PNG_ONLY)
    return PngUpload(data, max_pixels, note)


async def _form_image(request: Request, raw: bytes, max_bytes: int) -> bytes:
    async def body() -> AsyncGenerator[bytes, None]:
        yield raw

    parser = MultiPartParser(
        request.headers,
        body(),
        max_files=MAX_FORM_PARTS,
        max_fields=MAX_FORM_PARTS,
        max_part_size=max_bytes * 4 // 3 + 1024,  # a base64 image sent as a text part
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidParameters(f"the multipart form cannot be read: {exc.message}") from None
    try:
        extra = sorted(set(form.keys()) - {IMAGE_FIELD})
        if extra:
            raise InvalidParameters(f"{', '.join(extra)}: the form takes only an '{IMAGE_FIELD}' part")
        values = form.getlist(IMAGE_FIELD)
        if len(values) != 1:
            raise InvalidParameters(f"{IMAGE_FIELD}: send one image part", field=IMAGE_FIELD)
        value = values[0]
        if isinstance(value, UploadFile):
            # One byte past the limit tells it is too large without reading it all.
            data = await value.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise InvalidParameters(
                    f"{IMAGE_FIELD}: image is larger than {max_bytes} bytes", field=IMAGE_FIELD
                )
            return data
        return await run_in_threadpool(base64_image_data, IMAGE_FIELD, value, max_bytes, PNG_ONLY)
    finally:
        await form.close()


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PngInfoRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [IMAGE_FIELD],
                    "properties": {
                        IMAGE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "The PNG as an uploaded file (or its base64 text).",
                        }
                    },
                }
            },
        },
    }
}


@router.post(
    "/png-info",
    response_model=PngInfoReply,
    response_model_exclude_none=True,
    openapi_extra=_BODY_DOC,
    summary="Read the generation parameters of a PNG (this server's, A1111/Forge, ComfyUI, InvokeAI)",
    description="The parameters a PNG was made with, from the text chunks its tool wrote: this server's "
    "and AUTOMATIC1111/Forge's infotext (`parameters`), ComfyUI's graph (`prompt`: the main sampler's "
    "settings, its prompts, size, checkpoint and LoRAs) or InvokeAI's `invokeai_metadata`. `parameters` "
    "uses this API's field names (a body for /api/validate or a generation, unchecked: another tool's "
    "values may be out of this server's ranges), `unmapped` what has no field here, `raw` every text "
    "chunk. No pixel is decoded. Public: guests may send a body of at most "
    f"{SMALL_BODY_BYTES} bytes and a PNG of at most {GUEST_MAX_IMAGE_PIXELS} pixels.",
)
async def png_info(upload: Annotated[PngUpload, Depends(png_upload)], planner: PlannerDep) -> PngInfoReply:
    return await run_in_threadpool(planner.decoder.run, upload.info)
