"""Bodies of the image-input modes: img2img, inpainting, controlnet, upscale.

They extend Text2ImgRequest, so every text2img field (and its range from parameters.py) means the same
thing everywhere. Images are base64 text, with or without a `data:image/...;base64,` prefix.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdcpp_rest.generation_options import ranged
from sdcpp_rest.parameters import PARAMETER_RANGES, RESIZE_MODES
from sdcpp_rest.schemas import Text2ImgRequest

ResizeMode = Literal[tuple(RESIZE_MODES)]  # type: ignore[valid-type]
# Marks a field as an image, so a multipart request may send it as a file part (api/image_body.py).
IMAGE_FIELD = {"x-image": True}
_IMAGE_TEXT = "base64 PNG, JPEG or WebP, with or without a data:image/...;base64, prefix"
# Base64 text of the largest image a request may carry; the byte limit proper is a setting.
MAX_IMAGE_TEXT = 200 * 1024 * 1024


def _size_field(axis: str) -> int | None:
    spec = PARAMETER_RANGES[axis]
    return Field(  # type: ignore[no-any-return]
        None,
        ge=int(spec.minimum),
        le=int(spec.maximum),
        description=f"{spec.description} Default: the input image's {axis}, rounded to a multiple of 8.",
    )


class Img2ImgRequest(Text2ImgRequest):
    """Body of POST /api/generate/img2img."""

    init_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Starting image ({_IMAGE_TEXT}).",
    )
    strength: float = ranged("strength", integer=False)
    resize_mode: ResizeMode = Field(
        "resize",
        description="When an input image's size differs from width/height: resize (stretch), crop "
        "(fill the frame, cut the overflow) or fill (fit inside, pad with a blurred stretch).",
    )
    width: int | None = _size_field("width")  # type: ignore[assignment]
    height: int | None = _size_field("height")  # type: ignore[assignment]

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:
        step = int(PARAMETER_RANGES["width"].step)
        if value is not None and value % step:
            raise ValueError(f"must be a multiple of {step}")
        return value


class InpaintingRequest(Img2ImgRequest):
    """Body of POST /api/generate/inpainting: img2img inside the white part of a mask."""

    mask_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Mask ({_IMAGE_TEXT}) of the init image's size: white = repaint, black = keep.",
    )
    mask_blur: int = ranged("mask_blur")
    invert_mask: bool = Field(False, description="Repaint the black part instead.")


class ControlNetRequest(Img2ImgRequest):
    """Body of POST /api/generate/controlnet: text2img, or img2img when init_image is given."""

    init_image: str | None = Field(  # type: ignore[assignment]
        None,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Optional starting image ({_IMAGE_TEXT}).",
    )
    control_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Condition image for the ControlNet ({_IMAGE_TEXT}).",
    )
    control_net: str = Field(..., max_length=1024, description="ControlNet model inside models/controlnet.")
    control_strength: float = ranged("control_strength", integer=False)
    canny: bool = Field(False, description="Turn the control image into Canny edges first.")


class UpscaleRequest(BaseModel):
    """Body of POST /api/generate/upscale: ESRGAN only, no checkpoint."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Image to upscale ({_IMAGE_TEXT}).",
    )
    upscaler: str = Field(..., max_length=1024, description="ESRGAN model inside models/esrgan.")
    upscale_factor: int = ranged("upscale_factor")
    upscale_tile_size: int = ranged("upscale_tile_size")
    n_threads: int | None = Field(
        None, ge=-1, le=1024, description="Engine threads (default: the server's n_threads setting)."
    )


def image_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that carry an image (marked with IMAGE_FIELD)."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("x-image")
    )


ModeName = Literal["text2img", "img2img", "inpainting", "controlnet", "upscale"]
MODE_REQUESTS: dict[str, type[BaseModel]] = {
    "text2img": Text2ImgRequest,
    "img2img": Img2ImgRequest,
    "inpainting": InpaintingRequest,
    "controlnet": ControlNetRequest,
    "upscale": UpscaleRequest,
}
