"""The multipart bodies of /v1/images/edits and /variations: `image` (or repeated `image[]`, as the
OpenAI SDK sends a list), `mask`, and the other fields as form values."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sdcpp_rest.errors import InvalidParameters, UnsupportedMediaType
from sdcpp_rest.jobs.image_decoding import ImageDecoder

MAX_FILE_PARTS = 16
MAX_FORM_FIELDS = 100
# Alpha below this counts as transparent: the part to repaint.
TRANSPARENT_BELOW = 128


@dataclass(frozen=True)
class ImageForm:
    fields: dict[str, Any]
    images: list[str]  # base64, in the order sent
    mask: str | None  # base64 PNG, white = repaint (the native convention)


def _read(upload: UploadFile, name: str, max_bytes: int) -> bytes:
    content = upload.file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise InvalidParameters(f"{name}: image is larger than {max_bytes} bytes", field=name)
    return content


def native_mask(decoder: ImageDecoder, data: bytes) -> str:
    """OpenAI's mask (transparent = repaint) as a native one (white = repaint). A mask without
    transparency is read as the native kind already. Decoded like every request image: within the
    limits, inside the decode gate."""
    with decoder.gate():
        return _native_mask_png(decoder.open("mask", data))


def _native_mask_png(image: Image.Image) -> str:
    opened = image.convert("RGBA") if image.mode == "P" else image
    if "A" in opened.getbands():
        alpha = opened.getchannel("A")
        mask = alpha.point(lambda value: 255 if value < TRANSPARENT_BELOW else 0)
    else:
        mask = opened.convert("L")
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _to_form(form: Any, decoder: ImageDecoder) -> ImageForm:
    max_bytes = decoder.limits.max_bytes
    fields: dict[str, Any] = {}
    images: list[str] = []
    mask: str | None = None
    for name, value in form.multi_items():
        if name in ("image", "image[]"):
            if not isinstance(value, UploadFile):
                raise InvalidParameters(f"{name}: send the image as a file part", field="image")
            images.append(base64.b64encode(_read(value, "image", max_bytes)).decode())
        elif name == "mask":
            if not isinstance(value, UploadFile):
                raise InvalidParameters("mask: send the mask as a file part", field="mask")
            mask = native_mask(decoder, _read(value, "mask", max_bytes))
        elif isinstance(value, str):
            fields[name] = value
    if not images:
        raise InvalidParameters("image: an image file part is required", field="image")
    return ImageForm(fields, images, mask)


async def read_image_form(request: Request, decoder: ImageDecoder) -> ImageForm:
    max_bytes = decoder.limits.max_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with the image as a file part")
    form = await request.form(
        max_files=MAX_FILE_PARTS, max_fields=MAX_FORM_FIELDS, max_part_size=max_bytes * 4 // 3 + 1024
    )
    try:
        return await run_in_threadpool(_to_form, form, decoder)
    finally:
        await form.close()


def parse_fields(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """Form values (text) into `model`; empty values count as absent."""
    try:
        return model.model_validate({name: value for name, value in fields.items() if value != ""})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
