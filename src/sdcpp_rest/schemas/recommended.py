"""The recommended generation settings of each model family: size, steps, CFG scale, sampler and
scheduler. `/api/models` shows them per model (`recommended`), `/api/parameters?model=` gives them as
the defaults, and a request that leaves one of these fields out gets its model family's value
(jobs/request_defaults.py), never a 1024x1024 image on a 512 model.

Where each value comes from (stable-diffusion.cpp's docs, examples of its `sd-cli`):
- The engine's own defaults: 20 steps, CFG 7.0, scheduler `discrete`, sampler "euler for
  Flux/SD3/Wan, euler_a otherwise" (`sd-cli --help`, docs/cli_reference.md). A family whose example
  sets none of these keeps them.
- Sizes: docs/sd.md runs SD1.x at the engine's 512x512 and SDXL and SD3 with `-H 1024 -W 1024`;
  SD2.x is the 768-v model (stabilityai/stable-diffusion-2-1, linked from docs/sd.md) trained at 768;
  the DiT families' examples make 1024x1024 images (Wan: `-W 832 -H 480`, its 480p video size).
- CFG and sampler per family: docs/sd3.md `--cfg-scale 4.5 --sampling-method euler` (steps 28: the
  SD3.5 model card's default, which docs/sd3.md's model page links); docs/flux.md "--cfg-scale is
  recommended to be set to 1" with euler (Flux's distilled `guidance`, engine default 3.5, steers it
  instead); docs/flux2.md `--cfg-scale 1.0 --sampling-method euler` (dev and the distilled klein);
  docs/chroma.md `--cfg-scale 4.0 --sampling-method euler`; docs/wan.md `--cfg-scale 6.0
  --sampling-method euler` (Wan2.1, steps the engine's 20); docs/qwen_image.md `--cfg-scale 2.5
  --sampling-method euler`; docs/z_image.md Z-Image-Turbo `--cfg-scale 1.0 --steps 8` (the turbo
  model is the one people run; the base model wants CFG 5 and 20 steps: send them).
- SDXL: the engine's defaults (docs/sd.md's SDXL example sets only the size); the SDXL refiner is run
  at the base model's size. SVD: Stability's model card (1024x576, 25 steps, CFG 2.5); the engine of
  this release makes no SVD video, the values only keep the page from offering 512x512.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError

from sdcpp_rest.schemas.parameters import DEFAULT_SAMPLER, DEFAULT_SCHEDULER, PARAMETER_RANGES


class RecommendedSettings(BaseModel):
    """The generation settings a model family is usually run with."""

    width: int = Field(description="Image width in pixels.")
    height: int = Field(description="Image height in pixels.")
    steps: int = Field(description="Sampling steps.")
    cfg_scale: float = Field(description="Classifier-free guidance scale.")
    sampling_method: str = Field(description="Sampler (see /api/samplers).")
    scheduler: str = Field(description="Scheduler (see /api/schedulers).")


# The request fields a family's recommendation fills in (and a model set's defaults may replace).
RECOMMENDED_FIELDS: tuple[str, ...] = tuple(RecommendedSettings.model_fields)
# Size fields: modes that take their size from an input image leave them to it.
SIZE_FIELDS = ("width", "height")


def _settings(
    edge: int | tuple[int, int], steps: int, cfg_scale: float, sampler: str, scheduler: str = "discrete"
) -> RecommendedSettings:
    width, height = (edge, edge) if isinstance(edge, int) else edge
    return RecommendedSettings(
        width=width,
        height=height,
        steps=steps,
        cfg_scale=cfg_scale,
        sampling_method=sampler,
        scheduler=scheduler,
    )


# Family (as the catalog names them: catalog/detect.py, catalog/roles.py) -> its settings; the
# sources of each value are in this module's docstring.
FAMILY_SETTINGS: dict[str, RecommendedSettings] = {
    "SD1.x": _settings(512, 20, 7.0, "euler_a"),
    "SD2.x": _settings(768, 20, 7.0, "euler_a"),
    "SDXL": _settings(1024, 20, 7.0, "euler_a"),
    "SDXL refiner": _settings(1024, 20, 7.0, "euler_a"),
    "SVD": _settings((1024, 576), 25, 2.5, "euler"),
    "SD3": _settings(1024, 28, 4.5, "euler"),
    "Flux": _settings(1024, 20, 1.0, "euler"),
    "Flux.2": _settings(1024, 20, 1.0, "euler"),
    "Chroma": _settings(1024, 20, 4.0, "euler"),
    "Wan": _settings((832, 480), 20, 6.0, "euler"),
    "Qwen-Image": _settings(1024, 20, 2.5, "euler"),
    "Z-Image": _settings(1024, 8, 1.0, "euler"),
}
# Catalog types that are run as the model of a generation (their family decides the settings).
GENERATION_MODEL_TYPES = ("checkpoint", "diffusion_model", "set")


def spec_defaults() -> RecommendedSettings:
    """The API's own defaults (the spec's): what applies when the model's family is unknown."""
    ranges = PARAMETER_RANGES
    return RecommendedSettings(
        width=int(ranges["width"].default),
        height=int(ranges["height"].default),
        steps=int(ranges["steps"].default),
        cfg_scale=ranges["cfg_scale"].default,
        sampling_method=DEFAULT_SAMPLER,
        scheduler=DEFAULT_SCHEDULER,
    )


def recommended_for(
    family: str | None, set_defaults: Mapping[str, object] | None = None
) -> RecommendedSettings | None:
    """The family's settings with a model set's own defaults over them; None when the family is
    unknown (the API's defaults apply)."""
    base = FAMILY_SETTINGS.get(family or "")
    if base is None:
        return None
    chosen = {key: value for key, value in (set_defaults or {}).items() if key in RECOMMENDED_FIELDS}
    if not chosen:
        return base
    try:
        return RecommendedSettings.model_validate({**base.model_dump(), **chosen})
    except ValidationError:
        # A sets file edited by hand: a request naming the set is refused with the reason
        # (jobs/set_apply.py); the listing shows the family's settings.
        return base


def recommended_for_model(
    model_type: str, family: str | None, set_defaults: Mapping[str, object] | None = None
) -> RecommendedSettings | None:
    """A catalog entry's settings: only for what a generation runs (checkpoints, diffusion models,
    model sets); a LoRA or a VAE has a family but no settings of its own."""
    if model_type not in GENERATION_MODEL_TYPES:
        return None
    return recommended_for(family, set_defaults)
