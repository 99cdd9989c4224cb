"""OpenAI Images API wire schemas (generations, edits, variations, models) with the local extras
(negative_prompt, steps, seed, cfg_scale, sampler, scheduler). Unknown fields are ignored, as new
SDK versions send parameters this server has no use for (background, moderation, ...)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.schemas.parameters import MAX_SEED, PARAMETER_RANGES

ResponseFormat = Literal["url", "b64_json"]
OutputFormat = Literal["png", "jpeg", "webp"]
_MAX_N = int(PARAMETER_RANGES["batch_count"].maximum)
_STEPS = PARAMETER_RANGES["steps"]
_CFG = PARAMETER_RANGES["cfg_scale"]


class ImageOptions(BaseModel):
    """What generations, edits and variations share."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(
        None,
        max_length=1024,
        description="A checkpoint (name, title or hash); "
        "OpenAI's model names (dall-e-3, gpt-image-1, ...) mean the default one.",
    )
    n: int | None = Field(1, ge=1, le=_MAX_N, description="Images to make.")
    size: str | None = Field(None, max_length=20, description="WIDTHxHEIGHT (multiples of 8) or auto.")
    response_format: ResponseFormat | None = Field(
        None, description="url (default), b64_json (default for gpt-image models)."
    )
    output_format: OutputFormat | None = Field(None, description="png (default), jpeg or webp.")
    output_compression: int | None = Field(None, ge=0, le=100, description="jpeg/webp quality.")
    user: str | None = Field(None, max_length=256, description="Accepted; the job's owner is the caller.")
    # Local extras, beyond OpenAI's API.
    negative_prompt: str | None = Field(None)
    steps: int | None = Field(None, ge=int(_STEPS.minimum), le=int(_STEPS.maximum))
    seed: int | None = Field(None, ge=-1, le=MAX_SEED, description="-1 or absent: random.")
    cfg_scale: float | None = Field(None, ge=_CFG.minimum, le=_CFG.maximum)
    sampler: str | None = Field(
        None, max_length=64, description="euler_a, euler, dpmpp2m, ... or AUTOMATIC1111's names."
    )
    scheduler: str | None = Field(None, max_length=64, description="discrete, karras, ...")


class StreamOptions(BaseModel):
    stream: bool | None = Field(False, description="Server-sent events: partial images, then the result.")
    partial_images: int | None = Field(None, ge=0, le=3, description="Live previews to send when streaming.")


class GenerationBody(StreamOptions, ImageOptions):
    """POST /v1/images/generations. quality maps to steps (low fewer, high/hd more); style is
    accepted and ignored."""

    prompt: str = Field(...)
    quality: str | None = Field(None, max_length=20)
    style: str | None = Field(None, max_length=20)


class EditFields(StreamOptions, ImageOptions):
    """The form fields of POST /v1/images/edits (the images are file parts)."""

    prompt: str = Field(...)
    quality: str | None = Field(None, max_length=20)


class VariationFields(ImageOptions):
    """The form fields of POST /v1/images/variations."""


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class Usage(BaseModel):
    """Token counts have no meaning for a diffusion model: zeros, present because clients read them."""

    input_tokens: int = 0
    input_tokens_details: dict[str, int] = Field(
        default_factory=lambda: {"image_tokens": 0, "text_tokens": 0}
    )
    output_tokens: int = 0
    total_tokens: int = 0


class ImagesReply(BaseModel):
    created: int
    data: list[ImageData]
    size: str
    output_format: OutputFormat
    background: str = "opaque"
    usage: Usage = Field(default_factory=Usage)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "sdcpp-rest"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event, as the OpenAI SDK reads them (`event:` and a JSON `data:` line)."""
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()
