"""AUTOMATIC1111's names for samplers, schedulers, upscalers and resize modes, mapped onto the
engine's. Lookups accept A1111's name, its aliases (`k_euler_a`) and any letter case."""

from __future__ import annotations

from dataclasses import dataclass

from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.schemas.parameters import DEFAULT_SCHEDULER, SAMPLER_DISPLAY_NAMES, SAMPLERS


class NameNotFound(ApiError):
    """AUTOMATIC1111 answers an unknown sampler with 404 "Sampler not found"."""

    code, status_code = ErrorCode.NOT_FOUND, 404


@dataclass(frozen=True)
class SamplerName:
    name: str  # A1111's spelling, shown by /samplers
    api_name: str  # the native API's sampling_method
    aliases: tuple[str, ...] = ()


# A1111's samplers that the engine has, under A1111's names and aliases, then the engine's others
# under the names its infotext already uses (schemas/parameters.py). "DDIM" is the engine's
# ddim_trailing, the one DDIM it has (SillyTavern's default sampler is "DDIM").
_A1111_ALIASES: dict[str, tuple[str, ...]] = {
    "euler_a": ("k_euler_a", "k_euler_ancestral"),
    "euler": ("k_euler",),
    "heun": ("k_heun",),
    "dpm2": ("k_dpm_2",),
    "dpmpp2s_a": ("k_dpmpp_2s_a",),
    "dpmpp2m": ("k_dpmpp_2m",),
    "lcm": ("k_lcm",),
}
_A1111_NAMES = {"ddim_trailing": "DDIM"}
SAMPLER_NAMES: tuple[SamplerName, ...] = tuple(
    SamplerName(
        _A1111_NAMES.get(api_name, SAMPLER_DISPLAY_NAMES[api_name]),
        api_name,
        # The infotext's name too, so parameters read back from a PNG name a sampler that is found.
        (*_A1111_ALIASES.get(api_name, ()), SAMPLER_DISPLAY_NAMES[api_name], api_name),
    )
    for api_name in SAMPLERS
)
# The older "<sampler> <scheduler>" names ("DPM++ 2M Karras") name a scheduler too.
_SCHEDULER_SUFFIXES = {"karras": "karras", "exponential": "exponential", "sgm uniform": "sgm_uniform"}


@dataclass(frozen=True)
class SchedulerName:
    name: str  # A1111's name (what clients send)
    label: str
    api_name: str  # the native API's scheduler


SCHEDULER_NAMES: tuple[SchedulerName, ...] = (
    SchedulerName("automatic", "Automatic", DEFAULT_SCHEDULER),
    SchedulerName("karras", "Karras", "karras"),
    SchedulerName("exponential", "Exponential", "exponential"),
    SchedulerName("sgm_uniform", "SGM Uniform", "sgm_uniform"),
    SchedulerName("kl_optimal", "KL Optimal", "kl_optimal"),
    SchedulerName("align_your_steps", "Align Your Steps", "ays"),
    SchedulerName("simple", "Simple", "simple"),
    SchedulerName("discrete", "Discrete", "discrete"),
    SchedulerName("gits", "GITS", "gits"),
    SchedulerName("smoothstep", "Smoothstep", "smoothstep"),
    SchedulerName("lcm", "LCM", "lcm"),
    SchedulerName("bong_tangent", "Bong Tangent", "bong_tangent"),
)
# A1111 schedulers the engine lacks, mapped to the nearest it has ("normal" and "uniform" are the
# model's own discrete schedule there too). Anything else means "automatic", as in A1111.
_SCHEDULER_ALIASES = {
    "polyexponential": "exponential",
    "normal": "discrete",
    "uniform": "discrete",
    "ays": "ays",
}

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


def _key(name: str) -> str:
    return " ".join(name.strip().lower().split())


_SAMPLERS_BY_KEY = {
    _key(alias): sampler for sampler in SAMPLER_NAMES for alias in (sampler.name, *sampler.aliases)
}
_SCHEDULERS_BY_KEY = {
    _key(key): scheduler for scheduler in SCHEDULER_NAMES for key in (scheduler.name, scheduler.label)
}


def sampler_by_name(name: str) -> tuple[str, str | None]:
    """(the native sampling_method, the native scheduler the old name implies or None);
    NameNotFound (404) for a name the engine has no sampler for."""
    key = _key(name)
    if key in _SAMPLERS_BY_KEY:
        return _SAMPLERS_BY_KEY[key].api_name, None
    for suffix, scheduler in _SCHEDULER_SUFFIXES.items():
        if key.endswith(" " + suffix) and key[: -len(suffix) - 1] in _SAMPLERS_BY_KEY:
            return _SAMPLERS_BY_KEY[key[: -len(suffix) - 1]].api_name, scheduler
    known = ", ".join(sampler.name for sampler in SAMPLER_NAMES)
    raise NameNotFound(f"Sampler not found: '{name}' (this server has {known})", field="sampler_name")


def sampler_display_name(api_name: str) -> str:
    """A1111's name of a native sampler."""
    return next((sampler.name for sampler in SAMPLER_NAMES if sampler.api_name == api_name), api_name)


def scheduler_by_name(name: str | None) -> str:
    """The native scheduler of an A1111 scheduler name; unknown names mean automatic, as in A1111."""
    if not name:
        return DEFAULT_SCHEDULER
    key = _key(name)
    if key in _SCHEDULERS_BY_KEY:
        return _SCHEDULERS_BY_KEY[key].api_name
    return _SCHEDULER_ALIASES.get(key.replace(" ", "_"), DEFAULT_SCHEDULER)
