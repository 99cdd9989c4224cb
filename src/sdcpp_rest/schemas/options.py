"""Options every generation mode shares beyond text2img's core fields: LoRAs, TAESD, VAE tiling,
hires fix and an optional ESRGAN upscale as the last step. Ranges come from parameters.py.

Kept apart from schemas.py so Text2ImgRequest can inherit them and the mode requests
(mode_schemas.py) can build on Text2ImgRequest without an import cycle.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.schemas.parameters import PARAMETER_RANGES


def ranged(name: str, integer: bool = True, default: Any = ...) -> Any:
    """A Field whose bounds, default and description are PARAMETER_RANGES[name]."""
    spec = PARAMETER_RANGES[name]
    kind = int if integer else float
    return Field(
        kind(spec.default) if default is ... else default,
        ge=kind(spec.minimum),
        le=kind(spec.maximum),
        description=spec.description,
    )


# A LoRA named in a prompt: the binding's own syntax and pattern (PNG info reads it back from infotext).
LORA_TAG = re.compile(r"<lora:([^:>]+):([^>]+)>")


class LoraRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        ..., min_length=1, max_length=1024, description="LoRA file inside models/lora, extension optional."
    )
    weight: float = ranged("lora_weight", integer=False)


class HiresOptions(BaseModel):
    """A second, larger sampling pass over the first image (AUTOMATIC1111's "hires fix")."""

    model_config = ConfigDict(extra="forbid")
    scale: float = ranged("hires_scale", integer=False)
    width: int | None = Field(None, ge=64, le=4096, description="Target width (overrides scale).")
    height: int | None = Field(None, ge=64, le=4096, description="Target height (overrides scale).")
    steps: int = ranged("hires_steps")
    denoising_strength: float = ranged("hires_denoising_strength", integer=False)
    upscaler: str = Field(
        "latent",
        max_length=1024,
        description="latent, latent_nearest, latent_nearest_exact, latent_antialiased, latent_bicubic, "
        "latent_bicubic_antialiased, lanczos, nearest, or an ESRGAN model from models/esrgan.",
    )

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The second pass's size for a first pass of width x height: width/height, else scaled."""
        return (
            self.width or int(width * self.scale) // 8 * 8,
            self.height or int(height * self.scale) // 8 * 8,
        )

    def pass_steps(self, steps: int) -> int:
        """Planned steps of the second pass (0 means as many as the first)."""
        return self.steps or steps


class GenerationOptions(BaseModel):
    """Fields every generation request has besides the core text2img ones."""

    loras: list[LoraRef] = Field(
        default_factory=list,
        max_length=32,
        description="LoRAs to apply, in addition to any <lora:NAME:WEIGHT> in the prompt. An unknown "
        "name is refused before the job is queued.",
    )
    use_taesd: bool = Field(
        False,
        description="Decode with TAESD (fast, lower quality): taesd_path, else the first file "
        "of models/taesd.",
    )
    vae_tiling: bool = Field(False, description="Decode the VAE in tiles: less memory for large images.")
    hires: HiresOptions | None = Field(None, description="Hires fix: a second pass at a larger size.")
    upscaler: str | None = Field(
        None, max_length=1024, description="ESRGAN model from models/esrgan to upscale the results with."
    )
    upscale_factor: int = ranged("upscale_factor")
    upscale_tile_size: int = ranged("upscale_tile_size")
