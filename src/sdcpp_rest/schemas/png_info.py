"""The reply of POST /api/png-info: a PNG's generation parameters under the native API's field names.

Fields carry what the PNG says, unchecked against the API's ranges (POST /api/validate checks them):
a PNG of another tool may hold values this server refuses. Absent fields are left out of the reply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PngSource = Literal["sdcpp-rest", "a1111", "comfyui", "invokeai"]


class PngLora(BaseModel):
    name: str = Field(description="The LoRA's name as the PNG gives it (a file name, extension optional).")
    weight: float = Field(description="Its multiplier.")


class PngHires(BaseModel):
    """A hires-fix second pass (the `hires` object of a generation body)."""

    scale: float | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    denoising_strength: float | None = None
    upscaler: str | None = None


class PngParameters(BaseModel):
    """What could be mapped, under the fields of POST /api/generate/text2img (and the image modes)."""

    model_config = ConfigDict(extra="forbid")

    model_name: str | None = Field(None, description="The checkpoint's name as the PNG gives it.")
    prompt: str | None = Field(None, description="The prompt, its <lora:NAME:WEIGHT> tags moved to loras.")
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    sampling_method: str | None = Field(None, description="This API's sampler name (see /api/samplers).")
    scheduler: str | None = Field(None, description="This API's scheduler name (see /api/schedulers).")
    seed: int | None = None
    batch_count: int | None = None
    clip_skip: int | None = None
    strength: float | None = Field(None, description="Image-to-image denoising strength.")
    loras: list[PngLora] | None = None
    hires: PngHires | None = None
    vae_path: str | None = Field(None, description="The VAE's file name as the PNG gives it.")
    guidance: float | None = None
    flow_shift: float | None = None
    image_cfg_scale: float | None = None
    slg_scale: float | None = None
    skip_layers: list[int] | None = None
    eta: float | None = None
    sigmas: list[float] | None = None
    cache_mode: str | None = None
    cache_threshold: float | None = None
    prediction: str | None = None
    wtype: str | None = None
    lora_apply_mode: str | None = None
    resize_mode: str | None = None
    mask_blur: int | None = None
    vae_tiling: bool | None = None
    control_net: str | None = None
    control_strength: float | None = None
    canny: bool | None = None
    upscaler: str | None = None
    upscale_factor: int | None = None
    video_frames: int | None = None
    fps: int | None = None


class PngInfoReply(BaseModel):
    source: PngSource = Field(description="The tool whose format the parameters were read in.")
    width: int = Field(description="The PNG's width in pixels.")
    height: int = Field(description="The PNG's height in pixels.")
    parameters: PngParameters
    unmapped: dict[str, Any] = Field(
        description="What the PNG holds that has no field here (or a value this server has no name "
        "for, such as an unknown sampler), under the PNG's own names."
    )
    raw: dict[str, str] = Field(description="Every text chunk of the PNG: keyword -> text.")


class PngInfoRequest(BaseModel):
    """Body of POST /api/png-info (or a multipart form with an `image` file part)."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        ...,
        description="The PNG, base64, with or without a data:image/png;base64, prefix.",
        json_schema_extra={"x-image": True},
    )
