"""AUTOMATIC1111's names for samplers, schedulers, upscalers and resize modes, mapped onto the
engine's. Lookups accept A1111's name, its aliases (`k_euler_a`) and any letter case; the sampler and
scheduler tables live in schemas/sampler_names.py, which PNG info reads infotext with too."""

from __future__ import annotations

from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.schemas.parameters import DEFAULT_SCHEDULER
from sdcpp_rest.schemas.sampler_names import (
    SAMPLER_NAMES,
    SCHEDULER_NAMES,
    SamplerName,
    SchedulerName,
    find_sampler,
    find_scheduler,
)

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES", "SamplerName", "SchedulerName"]


class NameNotFound(ApiError):
    """AUTOMATIC1111 answers an unknown sampler with 404 "Sampler not found"."""

    code, status_code = ErrorCode.NOT_FOUND, 404


# A1111's hires-fix upscalers that are not model files, by A1111 name -> the engine's.
LATENT_UPSCALERS: dict[str, str] = {
    "Latent": "latent",
    "Latent (antialiased)": "latent_antialiased",
    "Latent (bicubic)": "latent_bicubic",
    "Latent (bicubic antialiased)": "latent_bicubic_antialiased",
    "Latent (nearest)": "latent_nearest",
    "Latent (nearest-exact)": "latent_nearest_exact",
}
PIXEL_UPSCALERS: dict[str, str] = {"Lanczos": "lanczos", "Nearest": "nearest"}
NO_UPSCALER = "None"
# A1111's resize_mode numbers: just resize, crop and resize, resize and fill, latent upscale.
RESIZE_MODES = {0: "resize", 1: "crop", 2: "fill", 3: "resize"}


def sampler_by_name(name: str) -> tuple[str, str | None]:
    """(the native sampling_method, the native scheduler the old name implies or None);
    NameNotFound (404) for a name the engine has no sampler for."""
    found = find_sampler(name)
    if found is not None:
        return found
    known = ", ".join(sampler.name for sampler in SAMPLER_NAMES)
    raise NameNotFound(f"Sampler not found: '{name}' (this server has {known})", field="sampler_name")


def sampler_display_name(api_name: str) -> str:
    """A1111's name of a native sampler."""
    return next((sampler.name for sampler in SAMPLER_NAMES if sampler.api_name == api_name), api_name)


def scheduler_by_name(name: str | None) -> str:
    """The native scheduler of an A1111 scheduler name; unknown names mean automatic, as in A1111."""
    if not name:
        return DEFAULT_SCHEDULER
    return find_scheduler(name) or DEFAULT_SCHEDULER
