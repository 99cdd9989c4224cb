"""The request fields naming the separate parts of a split model (Flux, SD3, Wan, Qwen-Image, ...):
a diffusion model and its text encoders, as stable-diffusion.cpp takes them. Each field accepts the
spec's `*_path` spelling and the part's bare name (`t5xxl_path` or `t5xxl`)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field

_MAX_NAME = 1024


def part_field(field: str, description: str) -> str | None:
    """A part named relative to its models folder; `field` and its name without `_path` are accepted."""
    return Field(
        None,
        max_length=_MAX_NAME,
        validation_alias=AliasChoices(field, field.removesuffix("_path")),
        description=f"{description} Also accepted as `{field.removesuffix('_path')}`.",
    )


class ModelPartsFields(BaseModel):
    """Parts beyond the VAE and CLIP encoders (those are Text2ImgFields' vae_path, clip_l_path ...)."""

    diffusion_model_path: str | None = part_field(
        "diffusion_model_path",
        "Stand-alone diffusion model inside models/diffusion_models (or unet/); replaces the checkpoint.",
    )
    high_noise_diffusion_model_path: str | None = part_field(
        "high_noise_diffusion_model_path",
        "Wan 2.2's high-noise diffusion model inside models/diffusion_models (or unet/).",
    )
    t5xxl_path: str | None = part_field(
        "t5xxl_path", "T5-XXL text encoder inside models/text_encoders (or clip/, t5/, llm/)."
    )
    llm_path: str | None = part_field(
        "llm_path", "LLM text encoder (Qwen, Mistral ...) inside models/text_encoders (or clip/, t5/, llm/)."
    )
    llm_vision_path: str | None = part_field(
        "llm_vision_path", "The LLM's vision encoder inside models/text_encoders (or clip/, t5/, llm/)."
    )
    clip_vision_path: str | None = part_field(
        "clip_vision_path", "CLIP vision encoder (Wan image-to-video) inside models/clip_vision."
    )
