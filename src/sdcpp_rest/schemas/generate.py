"""Request bodies of every generation mode: text2img, img2img, inpainting, controlnet, upscale.

The image modes extend Text2ImgRequest, so every text2img field (and its range from parameters.py)
means the same thing everywhere. Images are base64 text, with or without a `data:image/...;base64,` prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import JsonDict

from sdcpp_rest.schemas.family import FamilyFields
from sdcpp_rest.schemas.options import GenerationOptions, ranged
from sdcpp_rest.schemas.parameters import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULER,
    MAX_PROMPT_BYTES,
    MAX_SEED,
    PARAMETER_RANGES,
    RESIZE_MODES,
    SAMPLERS,
    SCHEDULERS,
    LoraApplyModeName,
    prompt_size_error,
)
from sdcpp_rest.schemas.parts import ModelPartsFields
from sdcpp_rest.schemas.speed import SpeedName

if TYPE_CHECKING:  # the vocabularies are tables; to a type checker the names are strings
    SamplerName = str
    SchedulerName = str
    ResizeMode = str
else:
    SamplerName = Literal[tuple(SAMPLERS)]
    SchedulerName = Literal[tuple(SCHEDULERS)]
    ResizeMode = Literal[tuple(RESIZE_MODES)]
ComponentPath = str | None


class Text2ImgFields(FamilyFields, ModelPartsFields, GenerationOptions):
    """The fields of text2img, which every checkpoint mode shares (the request bodies below and the
    parameters a job stores, jobs/params.py). LoRAs, TAESD, VAE tiling, hires fix and upscaling come
    from GenerationOptions."""

    model_name: str | None = Field(
        None,
        max_length=1024,
        description="Checkpoint name (relative to models/checkpoints) or stand-alone diffusion model "
        "(relative to models/diffusion_models); default: the diffusion_model's name when one is given, "
        "the configured default_model, the loaded model, or the only checkpoint.",
    )
    prompt: str = Field(
        ...,
        description=f"What to draw: at most {MAX_PROMPT_BYTES} bytes of UTF-8.",
    )
    negative_prompt: str = Field(
        "",
        description=f"What to avoid: at most {MAX_PROMPT_BYTES} bytes of UTF-8.",
    )
    styles: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="Prompt styles to apply, in order (see /api/styles): the caller's own style of a "
        "name, else the shared one. A style's text with `{prompt}` takes the prompt in its place, one "
        "without is appended; negative prompts alike. The prompt limit counts the final text, which "
        "the job records as its prompt (and the PNG's parameters, with `Styles: a, b`).",
    )
    width: int = ranged("width")
    height: int = ranged("height")
    steps: int = ranged("steps")
    cfg_scale: float = ranged("cfg_scale", integer=False)
    sampling_method: SamplerName = Field(DEFAULT_SAMPLER, description="Sampler (see /api/samplers).")
    scheduler: SchedulerName = Field(DEFAULT_SCHEDULER, description="Scheduler (see /api/schedulers).")
    seed: int | Literal["random"] = Field(
        "random",
        description=f"'random' (or -1) for a fresh seed, else 0..{MAX_SEED}; the seed used is "
        "returned with the job. Batch images use seed, seed+1, ...",
    )
    batch_count: int = ranged("batch_count")
    clip_skip: int = ranged("clip_skip")
    speed: SpeedName | None = Field(
        None,
        description="Speed preset: quality (changes nothing), balanced or fast pick, for the model's "
        "family and the engine's device (CPU or GPU), the settings measured fastest: weight type at load, "
        "cache_mode, flash attention, TAESD decoding, VAE tiling (see /api/parameters `speed`). Any of "
        "those fields the request sets itself wins. Default: the server's default_speed setting.",
    )
    preview: Literal["none", "proj", "tae", "vae"] = Field(
        "none",
        description="Live previews in WebSocket job_update messages (`data.preview`: step, mime_type, "
        "base64 JPEG of at most 256 px): proj = fast latent projection, tae = TAESD (needs taesd_path), "
        "vae = full VAE decode (slow).",
    )
    preview_interval: int = Field(1, ge=1, le=150, description="Steps between previews.")
    n_threads: int | None = Field(
        None, ge=-1, le=1024, description="Engine threads (default: the server's n_threads setting)."
    )
    offload_params_to_cpu: bool = Field(False, description="Keep weights in RAM, move to the GPU per use.")
    clip_on_cpu: bool = Field(
        False,
        validation_alias=AliasChoices("clip_on_cpu", "keep_clip_on_cpu"),
        description="Run the text encoder on the CPU. Also accepted as `keep_clip_on_cpu`.",
    )
    vae_on_cpu: bool = Field(
        False,
        validation_alias=AliasChoices("vae_on_cpu", "keep_vae_on_cpu"),
        description="Run the VAE on the CPU. Also accepted as `keep_vae_on_cpu`.",
    )
    diffusion_flash_attn: bool = Field(False, description="Flash attention in the diffusion model.")
    lora_apply_mode: LoraApplyModeName | None = Field(
        None,
        description="How LoRAs are applied: immediately (merged into the weights when the job starts), "
        "at_runtime (beside the weights at every step), auto (at_runtime on quantized weights, else "
        "immediately). Default: the server's lora_apply_mode setting. Changing it reloads the model.",
    )
    diffusion_conv_direct: bool = Field(False, description="Direct convolution in the diffusion model.")
    vae_conv_direct: bool = Field(False, description="Direct convolution in the VAE.")
    vae_path: ComponentPath = Field(
        None,
        max_length=1024,
        validation_alias=AliasChoices("vae_path", "vae"),
        description="VAE file inside models/vae. Also accepted as `vae`.",
    )
    clip_l_path: ComponentPath = Field(
        None,
        max_length=1024,
        validation_alias=AliasChoices("clip_l_path", "clip_l"),
        description="CLIP-L file inside models/clip (or text_encoders/). Also accepted as `clip_l`.",
    )
    clip_g_path: ComponentPath = Field(
        None,
        max_length=1024,
        validation_alias=AliasChoices("clip_g_path", "clip_g"),
        description="CLIP-G file inside models/clip (or text_encoders/). Also accepted as `clip_g`.",
    )
    taesd_path: ComponentPath = Field(None, max_length=1024, description="TAESD file inside models/taesd.")
    embedding_dir: ComponentPath = Field(
        None, max_length=1024, description="Folder inside models/embeddings whose files are the embeddings."
    )
    lora_model_dir: ComponentPath = Field(
        None,
        max_length=1024,
        description="Folder inside models/lora for <lora:NAME:W> (default: models/lora).",
    )

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        step = int(PARAMETER_RANGES["width"].step)
        if value % step:
            raise ValueError(f"must be a multiple of {step}")
        return value

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _prompt_size(cls, value: str) -> str:
        # The engine crashes on longer text (schemas/parameters.py: MAX_PROMPT_BYTES).
        error = prompt_size_error(value)
        if error:
            raise ValueError(error)
        return value

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value != -1 and not 0 <= value <= MAX_SEED:
            raise ValueError(f"must be 'random', -1 or an integer from 0 to {MAX_SEED}")
        return value

    def planned_total_steps(self) -> int:
        """Sampling steps of the whole job as asked; the worker corrects it when the engine starts
        each pass (img2img runs fewer, a hires pass its own count)."""
        hires_steps = self.hires.pass_steps(self.steps) if self.hires else 0
        return (self.steps + hires_steps) * self.batch_count


class Text2ImgRequest(Text2ImgFields):
    """Body of POST /api/generate/text2img. Unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


# Marks a field as an image, so a multipart request may send it as a file part (api/image_body.py).
IMAGE_FIELD: JsonDict = {"x-image": True}
_IMAGE_TEXT = "base64 PNG, JPEG or WebP, with or without a data:image/...;base64, prefix"
# Base64 text of the largest image a request may carry; the byte limit proper is a setting.
MAX_IMAGE_TEXT = 200 * 1024 * 1024


def _size_field(axis: str) -> int | None:
    spec = PARAMETER_RANGES[axis]
    return Field(
        None,
        ge=int(spec.minimum),
        le=int(spec.maximum),
        description=f"{spec.description} Default: the input image's {axis}, rounded to a multiple of 8.",
    )


class Img2ImgFields(BaseModel):
    """What img2img adds to text2img (also in the inpainting and ControlNet modes)."""

    strength: float = ranged("strength", integer=False)
    resize_mode: ResizeMode = Field(
        "resize",
        description="When an input image's size differs from width/height: resize (stretch), crop "
        "(fill the frame, cut the overflow) or fill (fit inside, pad with a blurred stretch).",
    )


class Img2ImgRequest(Img2ImgFields, Text2ImgRequest):
    """Body of POST /api/generate/img2img."""

    init_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Starting image ({_IMAGE_TEXT}).",
    )
    width: int | None = _size_field("width")  # type: ignore[assignment]
    height: int | None = _size_field("height")  # type: ignore[assignment]

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:  # type: ignore[override]
        step = int(PARAMETER_RANGES["width"].step)
        if value is not None and value % step:
            raise ValueError(f"must be a multiple of {step}")
        return value


class InpaintingFields(BaseModel):
    """What inpainting adds to img2img."""

    mask_blur: int = ranged("mask_blur")
    invert_mask: bool = Field(False, description="Repaint the black part instead.")


class InpaintingRequest(InpaintingFields, Img2ImgRequest):
    """Body of POST /api/generate/inpainting: img2img inside the white part of a mask."""

    mask_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Mask ({_IMAGE_TEXT}) of the init image's size: white = repaint, black = keep.",
    )


class ControlNetFields(BaseModel):
    """What the ControlNet mode adds to img2img."""

    control_net: str = Field(..., max_length=1024, description="ControlNet model inside models/controlnet.")
    control_strength: float = ranged("control_strength", integer=False)
    canny: bool = Field(False, description="Turn the control image into Canny edges first.")


class ControlNetRequest(ControlNetFields, Img2ImgRequest):
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


class UpscaleFields(BaseModel):
    """The upscale mode's options (ESRGAN only, no checkpoint)."""

    upscaler: str = Field(..., max_length=1024, description="ESRGAN model inside models/esrgan.")
    upscale_factor: int = ranged("upscale_factor")
    upscale_tile_size: int = ranged("upscale_tile_size")
    n_threads: int | None = Field(
        None, ge=-1, le=1024, description="Engine threads (default: the server's n_threads setting)."
    )


class UpscaleRequest(UpscaleFields):
    """Body of POST /api/generate/upscale."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"Image to upscale ({_IMAGE_TEXT}).",
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
