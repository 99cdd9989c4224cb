"""AUTOMATIC1111's infotext (the `parameters` chunk), as A1111, Forge and this server write it: prompt
lines, a `Negative prompt: ...` line, a last line of `Key: value, ...` (quoted values may hold commas).
This server's own PNGs say `Version: sdcpp-rest` and use the same keys, with some of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sdcpp_rest.outputs.infotext import parse_infotext
from sdcpp_rest.outputs.png_info.mapped import Mapped, as_float, as_int, as_text, loras_in_prompt
from sdcpp_rest.schemas.parameters import HIRES_LATENT_UPSCALERS
from sdcpp_rest.schemas.sampler_names import find_sampler, find_scheduler

# The Version this server writes (jobs/commands.py INFOTEXT_VERSION).
OWN_VERSION = "sdcpp-rest"
# A1111 takes the last line for settings only when it holds at least this many `Key: value` pairs.
MIN_SETTINGS_FIELDS = 3


def _bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError("not a boolean")
    return text == "true"


def _int_list(value: Any) -> list[int]:
    return [as_int(part) for part in str(value).split(",") if part.strip()]


def _float_list(value: Any) -> list[float]:
    return [as_float(part) for part in str(value).split(",") if part.strip()]


# Infotext key -> (API field, conversion), for the keys whose value is the field's as it is.
_PLAIN: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Steps": ("steps", as_int),
    "CFG scale": ("cfg_scale", as_float),
    "Seed": ("seed", as_int),
    "Model": ("model_name", as_text),
    "Clip skip": ("clip_skip", as_int),
    "VAE": ("vae_path", as_text),
    "Guidance": ("guidance", as_float),
    "Distilled CFG Scale": ("guidance", as_float),  # Forge's name for Flux's guidance
    "Flow shift": ("flow_shift", as_float),
    "Image CFG scale": ("image_cfg_scale", as_float),
    "SLG scale": ("slg_scale", as_float),
    "Skip layers": ("skip_layers", _int_list),
    "Eta": ("eta", as_float),
    "Sigmas": ("sigmas", _float_list),
    "Cache mode": ("cache_mode", as_text),
    "Cache threshold": ("cache_threshold", as_float),
    "Prediction": ("prediction", as_text),
    "Weight type": ("wtype", as_text),
    "LoRA apply mode": ("lora_apply_mode", as_text),
    "Resize mode": ("resize_mode", as_text),
    "Mask blur": ("mask_blur", as_int),
    "VAE tiling": ("vae_tiling", _bool),
    "ControlNet model": ("control_net", as_text),
    "ControlNet strength": ("control_strength", as_float),
    "Upscaler": ("upscaler", as_text),
    "Upscale factor": ("upscale_factor", as_int),
    "Frames": ("video_frames", as_int),
    "FPS": ("fps", as_int),
}
# Hires-fix keys -> the `hires` object's fields.
_HIRES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Hires upscale": ("scale", as_float),
    "Hires steps": ("steps", as_int),
    "Hires denoising strength": ("denoising_strength", as_float),
}


def read_infotext(text: str) -> tuple[Literal["sdcpp-rest", "a1111"], Mapped]:
    """(source, mapped parameters) of an infotext; source is "sdcpp-rest" for this server's PNGs."""
    prompt, negative, fields = parse_infotext(text)
    if len(fields) < MIN_SETTINGS_FIELDS:  # no settings line: every line is prompt
        prompt, negative, fields = parse_infotext(text + "\n")
    source: Literal["sdcpp-rest", "a1111"] = "sdcpp-rest" if fields.get("Version") == OWN_VERSION else "a1111"
    mapped = Mapped()
    prompt, loras = loras_in_prompt(prompt)
    mapped.parameters["prompt"] = prompt
    if negative:
        mapped.parameters["negative_prompt"] = negative
    if loras:
        mapped.parameters["loras"] = loras
    hires: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _PLAIN:
            name, convert = _PLAIN[key]
            mapped.put(name, value, convert, key)
        elif key in _HIRES:
            name, convert = _HIRES[key]
            _put_into(hires, mapped, name, value, convert, key)
        elif not _special(key, value, fields, mapped, hires, source):
            mapped.unmapped[key] = value
    if hires:
        mapped.parameters["hires"] = hires
    return source, mapped


def _put_into(
    target: dict[str, Any], mapped: Mapped, name: str, value: Any, convert: Callable[[Any], Any], key: str
) -> None:
    try:
        target[name] = convert(value)
    except (TypeError, ValueError, OverflowError):
        mapped.unmapped[key] = value


def _special(
    key: str, value: str, fields: dict[str, str], mapped: Mapped, hires: dict[str, Any], source: str
) -> bool:
    """Maps the keys that need more than a conversion; False leaves `key` unmapped."""
    if key == "Size":
        width, separator, height = value.partition("x")
        mapped.put("width", width, as_int, key)
        if separator:
            mapped.put("height", height, as_int, key)
        return True
    if key == "Sampler":
        found = find_sampler(value)
        if found is None:
            return False
        mapped.parameters["sampling_method"] = found[0]
        if found[1] is not None and "Schedule type" not in fields:
            mapped.parameters["scheduler"] = found[1]
        return True
    if key == "Schedule type":
        scheduler = find_scheduler(value)
        if scheduler is None:
            return False
        mapped.parameters["scheduler"] = scheduler
        return True
    if key == "Denoising strength":
        # A1111 writes the hires pass's strength under this key when the hires fix ran.
        if any(name.startswith("Hires") for name in fields) and "Hires denoising strength" not in fields:
            _put_into(hires, mapped, "denoising_strength", value, as_float, key)
        else:
            mapped.put("strength", value, as_float, key)
        return True
    if key == "Hires resize":
        width, _, height = value.partition("x")
        _put_into(hires, mapped, "width", width, as_int, key)
        _put_into(hires, mapped, "height", height, as_int, key)
        return True
    if key == "Hires upscaler":
        upscaler = value.strip().lower()
        hires["upscaler"] = upscaler if upscaler in HIRES_LATENT_UPSCALERS else value
        return True
    if key == "ControlNet preprocessor":
        mapped.parameters["canny"] = value.strip().lower() == "canny"
        return True
    if key == "LoRAs" and source == "sdcpp-rest" and "loras" in mapped.parameters:
        return True  # the summary of the prompt's tags, which became `loras`
    return key == "Version" and source == "sdcpp-rest"
