"""Speed presets (issue 26): a generation's `speed` ("quality", "balanced", "fast") picks, per model
family and per device the engine runs on (CPU or GPU), the engine settings measured fastest for the
fidelity each preset is allowed to lose. jobs/speed_presets.py applies them: a field the request (or
its model set) gives itself wins, then the preset, then the server's defaults.

`quality` changes nothing: the request runs as its fields and the server's defaults say (so the
`default_cache_mode` setting still applies to it).

Load-time settings (a different value builds a new engine context, i.e. reloads the model): `wtype`,
`diffusion_flash_attn`, `diffusion_conv_direct`, `vae_conv_direct` and `use_taesd` (the TAESD file
is part of the context). Per-generation settings: `cache_mode` and its threshold, `vae_tiling`.

Where each choice comes from (bench/README.md, the shared engine notes; CPU figures from the 2-core
development machine, random-weight models, shared with other work, so noisy):
- SD1.x/SD2.x (UNet) on CPU: step caching `spectrum` 1.45x at 12 steps 64x64 through the binding
  (9.9 s against 14-15 s; `ucache` 1.4x), 1.75x through the server (bench_presets, 12 steps 64x64;
  at 4 steps it skips no step: same pixels); TAESD decoding 1.70x at 4 steps 64x64 and 256x256 in
  18.6 s instead of 32.3 s at 2 steps (the full VAE decoder dominates small CPU images); weights
  converted to q8_0 at load 1.15x (the lead's measurement; the engine notes saw no gain at 128x128,
  4 steps, where the decoder dominates) at 1.4 s more load time; only float files are converted
  (jobs/speed_presets.py). All three (`fast`): 2.38x at 12
  steps 64x64 (bench_presets, under load).
- SDXL (UNet) on CPU: as SD1.x but no TAESD: models/taesd's first file is the SD1 TAESD, whose latent
  space is not SDXL's.
- DiT families (Flux, SD3, Chroma, Wan, Qwen-Image, Z-Image) on CPU, measured on the reduced Flux at
  12 steps, speed-ups against no caching over runs of bench_cache_modes and bench_presets on the
  shared 2-core machine (64x64 | 256x256; the runs disagree by up to 2x): cache_dit 1.84, 1.79,
  1.27, 1.74 | 1.24, 1.29, 1.37, 1.66 (geometric mean 1.51; pixel difference to no caching 1.7 of
  255); easycache 3.29, 1.59, 1.55 | 0.88, 1.45, 1.36 (1.55; 2.5); taylorseer 2.38, 1.39 | 1.11, 1.51
  (1.53); spectrum 1.80, 1.39, 1.34 | 2.14, 0.95, 1.27 (1.43; 2.6-2.7); dbcache 1.71, 1.67 | 1.17,
  1.25 (1.43). In every paired bench_presets run cache_dit beat easycache and spectrum: `fast` takes
  cache_dit, `balanced` dbcache (its block caching without the TaylorSeer prediction). At 4 steps
  none gains: presets pay off from about a dozen steps. No Flux TAESD among the test models and no
  DiT q8_0 figure: neither is chosen.
- Flash attention and direct convolutions on CPU: not measured faster here, left off.
- GPU rows: NOT MEASURED (no GPU build has produced figures yet, bench/README.md "cuda_bench.sh").
  They take the CPU's step caching and TAESD choices and add flash attention in the diffusion model
  (stable-diffusion.cpp's docs recommend it on CUDA for speed and memory) and VAE tiling above
  TILE_ABOVE_PIXELS (the full-size VAE decode is what runs out of GPU memory on large images).
  bench/bench_presets.py measures them on a GPU machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.schemas.family import DIT_FAMILIES, UNET_FAMILIES

SPEEDS = ("quality", "balanced", "fast")
DEVICES = ("CPU", "GPU")
DEFAULT_SPEED = "quality"
# GPU rows: images above this many pixels are decoded in tiles (not measured, see above).
TILE_ABOVE_PIXELS = 1536 * 1536

if TYPE_CHECKING:  # the vocabulary is a table; to a type checker the names are strings
    SpeedName = str
else:
    SpeedName = Literal[SPEEDS]


class SpeedChoice(BaseModel):
    """What one preset sets for one family on one device; None/False leaves the field to the request
    and the server's defaults."""

    model_config = ConfigDict(frozen=True)

    wtype: str | None = Field(None, description="Weight type the model is converted to at load.")
    cache_mode: str | None = Field(None, description="Step caching mode.")
    cache_threshold: float | None = Field(None, description="Its threshold (None: the engine's default).")
    diffusion_flash_attn: bool = Field(False, description="Flash attention in the diffusion model.")
    diffusion_conv_direct: bool = Field(False, description="Direct convolution in the diffusion model.")
    vae_conv_direct: bool = Field(False, description="Direct convolution in the VAE.")
    use_taesd: bool = Field(
        False, description="Decode with TAESD (only when models/taesd holds a file; else the full VAE)."
    )
    vae_tiling_above_pixels: int | None = Field(
        None, description="Decode the VAE in tiles when width x height is above this."
    )
    measured: bool = Field(description="Whether the choice rests on measurements on this device.")
    basis: str = Field(description="The figures (or the reason) behind the choice.")


# Request fields a preset may fill in (vae_tiling from vae_tiling_above_pixels).
PRESET_FIELDS = (
    "wtype",
    "cache_mode",
    "cache_threshold",
    "diffusion_flash_attn",
    "diffusion_conv_direct",
    "vae_conv_direct",
    "use_taesd",
    "vae_tiling",
)
# Of those, the ones held by the engine context: a different value reloads the model.
LOAD_TIME_FIELDS = ("wtype", "diffusion_flash_attn", "diffusion_conv_direct", "vae_conv_direct", "use_taesd")

_QUALITY = SpeedChoice(
    measured=True, basis="Changes nothing: the request's fields and the server's defaults."
)

_UNET_CPU_BALANCED = SpeedChoice(
    cache_mode="spectrum",
    measured=True,
    basis="spectrum 1.45-1.75x at 12 steps 64x64 (SD1.5, CPU).",
)
_SD_CPU_FAST = SpeedChoice(
    wtype="q8_0",
    cache_mode="spectrum",
    use_taesd=True,
    measured=True,
    basis="spectrum 1.45-1.75x at 12 steps, TAESD decode 1.70x, q8_0 weights 1.15x; together 2.38x at 12 "
    "steps 64x64 (SD1.5, CPU).",
)
_SDXL_CPU_FAST = SpeedChoice(
    wtype="q8_0",
    cache_mode="spectrum",
    measured=True,
    basis="As SD1.5 without TAESD (the SD1 TAESD does not decode SDXL latents); SDXL itself unmeasured.",
)
_DIT_CPU_BALANCED = SpeedChoice(
    cache_mode="dbcache",
    measured=True,
    basis="dbcache 1.67-1.71x at 64x64, 1.17-1.25x at 256x256, 12 steps (reduced Flux, CPU): cache_dit's "
    "block caching without its TaylorSeer prediction.",
)
_DIT_CPU_FAST = SpeedChoice(
    cache_mode="cache_dit",
    measured=True,
    basis="cache_dit 1.27-1.84x at 64x64, 1.24-1.66x at 256x256, 12 steps: the steadiest mode, faster "
    "than easycache and spectrum in every paired bench_presets run (reduced Flux, CPU).",
)
_GPU_NOTE = "Not measured on a GPU: the CPU's step caching, flash attention, VAE tiled above 1536x1536."


def _gpu(cpu: SpeedChoice) -> SpeedChoice:
    """A GPU row from a CPU row: flash attention and tiling by memory added (unmeasured)."""
    return cpu.model_copy(
        update={
            "diffusion_flash_attn": True,
            "vae_tiling_above_pixels": TILE_ABOVE_PIXELS,
            "measured": False,
            "basis": _GPU_NOTE,
        }
    )


def _rows(balanced: SpeedChoice, fast: SpeedChoice) -> dict[str, dict[str, SpeedChoice]]:
    """The CPU and GPU rows of one family."""
    return {
        "CPU": {"quality": _QUALITY, "balanced": balanced, "fast": fast},
        "GPU": {"quality": _QUALITY, "balanced": _gpu(balanced), "fast": _gpu(fast)},
    }


def _family_rows(family: str) -> dict[str, dict[str, SpeedChoice]]:
    if family in ("SD1.x", "SD2.x"):  # one latent space: the SD1 TAESD decodes both
        return _rows(_UNET_CPU_BALANCED, _SD_CPU_FAST)
    if family in UNET_FAMILIES:
        return _rows(_UNET_CPU_BALANCED, _SDXL_CPU_FAST)
    return _rows(_DIT_CPU_BALANCED, _DIT_CPU_FAST)


# (family, device) -> speed -> what it sets. Families as the catalog names them.
SPEED_TABLE: dict[tuple[str, str], dict[str, SpeedChoice]] = {
    (family, device): choices
    for family in UNET_FAMILIES + DIT_FAMILIES
    for device, choices in _family_rows(family).items()
}


def speed_choice(speed: str, family: str | None, device: str) -> SpeedChoice | None:
    """What `speed` sets for `family` on `device`; None when the family is unknown (nothing is set)."""
    row = SPEED_TABLE.get((family or "", device))
    return row[speed] if row is not None else None


def preset_listing(family: str | None, device: str) -> dict[str, dict[str, object]] | None:
    """Each preset's settings for one family and device as /api/parameters shows them."""
    row = SPEED_TABLE.get((family or "", device))
    if row is None:
        return None
    return {speed: choice.model_dump() for speed, choice in row.items()}
