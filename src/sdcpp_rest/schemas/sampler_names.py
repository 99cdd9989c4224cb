"""AUTOMATIC1111's names for the engine's samplers and schedulers, and the lookups from a name (A1111's,
its aliases such as `k_euler_a`, the infotext's, any letter case) to the native API's name. The A1111
adapter (compat/a1111/vocab.py) answers with them; PNG info (outputs/png_info) reads infotext with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdcpp_rest.schemas.parameters import DEFAULT_SCHEDULER, SAMPLER_DISPLAY_NAMES, SAMPLERS


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
# model's own discrete schedule there too).
_SCHEDULER_ALIASES = {
    "polyexponential": "exponential",
    "normal": "discrete",
    "uniform": "discrete",
    "ays": "ays",
}


def _key(name: str) -> str:
    return " ".join(name.strip().lower().split())


_SAMPLERS_BY_KEY = {
    _key(alias): sampler for sampler in SAMPLER_NAMES for alias in (sampler.name, *sampler.aliases)
}
_SCHEDULERS_BY_KEY = {
    _key(key): scheduler for scheduler in SCHEDULER_NAMES for key in (scheduler.name, scheduler.label)
}


def find_sampler(name: str) -> tuple[str, str | None] | None:
    """(the native sampling_method, the native scheduler an old "<sampler> <scheduler>" name implies or
    None) of an A1111 or infotext sampler name; None when the engine has no such sampler."""
    key = _key(name)
    if key in _SAMPLERS_BY_KEY:
        return _SAMPLERS_BY_KEY[key].api_name, None
    for suffix, scheduler in _SCHEDULER_SUFFIXES.items():
        if key.endswith(" " + suffix) and key[: -len(suffix) - 1] in _SAMPLERS_BY_KEY:
            return _SAMPLERS_BY_KEY[key[: -len(suffix) - 1]].api_name, scheduler
    return None


def find_scheduler(name: str) -> str | None:
    """The native scheduler of an A1111 scheduler name (its label too, any case); None when unknown."""
    key = _key(name)
    if key in _SCHEDULERS_BY_KEY:
        return _SCHEDULERS_BY_KEY[key].api_name
    return _SCHEDULER_ALIASES.get(key.replace(" ", "_"))
