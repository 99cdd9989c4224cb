"""AUTOMATIC1111's wire schemas: the txt2img/img2img bodies with A1111's field names, defaults
and looseness (unknown fields ignored: SillyTavern sends its own `url` and `auth` keys, webuiapi
every key it knows, nulls included), and the replies. Ranges are checked once mapped onto the
native request models, so the native limits apply."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

# Fields whose null means "the default" (webuiapi sends null for what it was not given).
_NULL_IS_DEFAULT = (
    "prompt", "negative_prompt", "steps", "cfg_scale", "width", "height", "seed", "batch_size", "n_iter",
    "enable_hr", "hr_scale", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "override_settings",
    "override_settings_restore_afterwards", "send_images", "save_images", "alwayson_scripts", "styles",
    "mask_blur", "inpainting_mask_invert", "inpainting_fill", "resize_mode", "init_images", "subseed",
)  # fmt: skip


class Txt2ImgBody(BaseModel):
    """POST /sdapi/v1/txt2img (`styles` names the server's prompt styles, /sdapi/v1/prompt-styles).
    Accepted but without effect: subseed*, seed_resize_from_*,
    restore_faces, tiling, eta, s_*, save_images (every job keeps its outputs), script_name/args,
    hr_checkpoint_name, hr_sampler_name, hr_prompt, refiner_*, and alwayson_scripts other than
    ControlNet."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    seed: int = Field(-1, description="-1 for a random seed.")
    subseed: int = -1
    subseed_strength: float | None = 0.0
    sampler_name: str | None = None
    sampler_index: str | None = Field(None, description="A sampler name too (A1111's older field).")
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    denoising_strength: float | None = None
    clip_skip: int | None = None
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        # A null stays out of model_fields_set: the fields a client did not give get the model
        # family's recommended value on the native side (compat/a1111/mapping.py), not A1111's 512.
        if isinstance(data, dict):
            return {
                key: value for key, value in data.items() if not (value is None and key in _NULL_IS_DEFAULT)
            }
        return data

    @field_validator("*", mode="wrap")
    @classmethod
    def _null_means_default(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if value is None and info.field_name in _NULL_IS_DEFAULT:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return handler(value)


class Img2ImgBody(Txt2ImgBody):
    """POST /sdapi/v1/img2img: inpainting when `mask` is given. Accepted without effect besides
    those of txt2img: inpainting_fill, inpaint_full_res*, initial_noise_multiplier, image_cfg_scale,
    include_init_images, and every init image after the first."""

    init_images: list[str] = Field(default_factory=list)
    mask: str | None = None
    inpainting_mask_invert: int | bool = 0
    mask_blur: int = 4
    inpainting_fill: int = 0
    resize_mode: int = 0


class GenerationReply(BaseModel):
    images: list[str] = Field(description="Base64 PNGs (no data: prefix), each with its infotext chunk.")
    parameters: dict[str, Any] = Field(description="The request with its defaults.")
    info: str = Field(description="A JSON string: seeds, sizes, model, infotexts, ...")


class ExtraSingleBody(BaseModel):
    """POST /sdapi/v1/extra-single-image (ESRGAN upscaling; face restoration is not available)."""

    model_config = ConfigDict(extra="ignore")

    image: str
    resize_mode: int = 0
    # A1111's own bounds; the target size is also held to max_input_image_pixels (compat/a1111/extras.py).
    upscaling_resize: float = Field(2.0, ge=1, le=8, allow_inf_nan=False)
    upscaling_resize_w: int = Field(512, ge=1)
    upscaling_resize_h: int = Field(512, ge=1)
    upscaler_1: str | None = None


class BatchImage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: str
    name: str = ""


class ExtraBatchBody(ExtraSingleBody):
    image: str = ""
    imageList: list[BatchImage] = Field(default_factory=list)  # noqa: N815 (A1111's name)


class PngInfoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image: str
