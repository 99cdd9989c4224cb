"""The parameters that belong to some model families only (Flux's distilled guidance, the flow models'
shift, skip-layer guidance, step caching ...) and the engine-context options of split models, with the
table of which families take each: requests, /api/parameters and the OpenAPI schema read it, and a
request giving one to a family that does not take it is refused naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

from sdcpp_rest.schemas.options import ranged
from sdcpp_rest.schemas.parameters import PARAMETER_RANGES

# Families as the catalog names them (catalog/detect.py, catalog/roles.py).
UNET_FAMILIES = ("SD1.x", "SD2.x", "SDXL", "SDXL refiner", "SVD")
FLUX_FAMILIES = ("Flux", "Flux.2")
FLOW_FAMILIES = ("SD3", "Flux", "Flux.2", "Chroma", "Wan", "Qwen-Image", "Z-Image")
DIT_FAMILIES = FLOW_FAMILIES
ALL_FAMILIES = UNET_FAMILIES + DIT_FAMILIES

# The engine's step-caching modes (stable-diffusion.cpp sample-cache.cpp: ucache runs on UNet models
# only, easycache and the CacheDIT modes on DiT models only, spectrum on both) and the API's names.
CACHE_MODE_FAMILIES: dict[str, tuple[str, ...]] = {
    "none": ALL_FAMILIES,
    "ucache": UNET_FAMILIES,
    "easycache": DIT_FAMILIES,
    "dbcache": DIT_FAMILIES,
    "taylorseer": DIT_FAMILIES,
    "cache_dit": DIT_FAMILIES,
    "spectrum": ALL_FAMILIES,
}
ENGINE_CACHE_MODES = {"none": "disabled", "cache_dit": "cachedit"}  # the others keep their name
PREDICTIONS = ("eps", "v", "edm_v", "flow", "flux_flow", "flux2_flow")
WEIGHT_TYPES = ("f32", "f16", "bf16", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1", "q4_k", "q3_k", "q2_k")

# Request field -> the families it applies to; fields not listed apply to every family.
FIELD_FAMILIES: dict[str, tuple[str, ...]] = {
    "guidance": FLUX_FAMILIES,
    "flow_shift": FLOW_FAMILIES,
    "slg_scale": DIT_FAMILIES,
    "skip_layers": DIT_FAMILIES,
    "ref_images": ("Flux", "Flux.2", "Qwen-Image"),
}
MAX_REF_IMAGES = 4
# Base64 text of the largest image a request may carry (as schemas/generate.py's MAX_IMAGE_TEXT).
_MAX_IMAGE_TEXT = 200 * 1024 * 1024

if TYPE_CHECKING:  # the vocabularies are tables; to a type checker the names are strings
    CacheMode = str
    Prediction = str
    WeightType = str
else:
    CacheMode = Literal[tuple(CACHE_MODE_FAMILIES)]
    Prediction = Literal[PREDICTIONS]
    WeightType = Literal[WEIGHT_TYPES]


def _families(name: str) -> str:
    families = FIELD_FAMILIES.get(name)
    return f" Families: {', '.join(families)}." if families else ""


def optional_ranged(name: str) -> float | None:
    """An optional float field with PARAMETER_RANGES[name]'s bounds; None = the engine's default."""
    spec = PARAMETER_RANGES[name]
    return Field(
        None,
        ge=spec.minimum,
        le=spec.maximum,
        description=f"{spec.description} Default: the model's own.{_families(name)}",
    )


class FamilyFields(BaseModel):
    """Family parameters and split-model context options of every checkpoint mode."""

    guidance: float | None = optional_ranged("guidance")
    flow_shift: float | None = optional_ranged("flow_shift")
    image_cfg_scale: float | None = optional_ranged("image_cfg_scale")
    slg_scale: float = ranged("slg_scale", integer=False)
    skip_layers: list[int] | None = Field(
        None,
        max_length=64,
        description=f"Layers skip-layer guidance leaves out (default 7, 8, 9).{_families('skip_layers')}",
    )
    skip_layer_start: float = ranged("skip_layer_start", integer=False)
    skip_layer_end: float = ranged("skip_layer_end", integer=False)
    eta: float | None = optional_ranged("eta")
    sigmas: list[float] | None = Field(
        None,
        min_length=2,
        max_length=151,
        description="Custom sigma schedule, highest first, replacing the scheduler's (steps + 1 values).",
    )
    prediction: Prediction | None = Field(
        None, description="Override the model's prediction type (default: read from the model)."
    )
    wtype: WeightType | None = Field(
        None, description="Convert the weights to this type when loading (default: as stored)."
    )
    enable_mmap: bool = Field(False, description="Map model files into memory instead of reading them.")
    max_vram: float | None = optional_ranged("max_vram")
    cache_mode: CacheMode | None = Field(
        None,
        description="Step caching: reuse work of similar steps to go faster (default: the server's "
        "default_cache_mode where the family takes it, else none). ucache: UNet models; easycache, "
        "dbcache, taylorseer, cache_dit: DiT models; spectrum: both.",
    )
    cache_threshold: float | None = optional_ranged("cache_threshold")
    cache_start_percent: float | None = optional_ranged("cache_start_percent")
    cache_end_percent: float | None = optional_ranged("cache_end_percent")
    ref_images: list[Annotated[str, Field(max_length=_MAX_IMAGE_TEXT)]] | None = Field(
        None,
        max_length=MAX_REF_IMAGES,
        json_schema_extra={"x-image": True},
        description="Reference images (Flux Kontext, Flux.2, Qwen-Image-Edit): base64 PNG, JPEG or WebP, "
        "same limits as other input images; as repeated file parts in multipart bodies."
        f"{_families('ref_images')}",
    )

    def family_fields_given(self) -> list[str]:
        """The family-limited fields this request sets (to a value that does something)."""
        names = ("guidance", "flow_shift", "skip_layers")
        given = [name for name in names if getattr(self, name) is not None]
        if self.slg_scale:
            given.append("slg_scale")
        if self.ref_images:
            given.append("ref_images")
        return given
