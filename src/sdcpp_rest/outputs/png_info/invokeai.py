"""InvokeAI's `invokeai_metadata` chunk (InvokeAI 3 and later): a JSON object of the core settings.
Models are objects: {"name": ...} since InvokeAI 4, {"model_name": ...} in 3; a LoRA is
{"model" or "lora": <model>, "weight": w}. Its `scheduler` names a sampler and, with `_k`, Karras."""

from __future__ import annotations

from typing import Any

from sdcpp_rest.outputs.png_info.mapped import Mapped, as_float, as_int, as_text, json_object

# InvokeAI's scheduler names -> this API's sampler, for the samplers both have ("_k": Karras sigmas).
INVOKE_SAMPLERS = {
    "euler": "euler",
    "euler_a": "euler_a",
    "heun": "heun",
    "kdpm_2": "dpm2",
    "dpmpp_2m": "dpmpp2m",
    "lcm": "lcm",
    "tcd": "tcd",
    "ddim": "ddim_trailing",
}
KARRAS_SUFFIX = "_k"
_PLAIN = {
    "positive_prompt": ("prompt", as_text),
    "negative_prompt": ("negative_prompt", as_text),
    "width": ("width", as_int),
    "height": ("height", as_int),
    "seed": ("seed", as_int),
    "steps": ("steps", as_int),
    "cfg_scale": ("cfg_scale", as_float),
    "strength": ("strength", as_float),
}


def read_invokeai_metadata(text: str) -> Mapped | None:
    """The parameters of InvokeAI's metadata; None when `text` is no JSON object."""
    data = json_object(text)
    if data is None:
        return None
    mapped = Mapped()
    for key, value in data.items():
        if key in _PLAIN:
            name, convert = _PLAIN[key]
            mapped.put(name, value, convert, key)
        elif key == "scheduler" and isinstance(value, str) and _sampler(value) is not None:
            sampler, karras = _sampler(value) or ("", False)
            mapped.parameters["sampling_method"] = sampler
            if karras:
                mapped.parameters["scheduler"] = "karras"
        elif key == "model" and _model_name(value) is not None:
            mapped.parameters["model_name"] = _model_name(value)
        elif key == "vae" and _model_name(value) is not None:
            mapped.parameters["vae_path"] = _model_name(value)
        elif key == "clip_skip" and isinstance(value, int) and not isinstance(value, bool):
            if value > 0:  # 0: the model's default
                mapped.parameters["clip_skip"] = value
        elif key == "loras" and isinstance(value, list) and _loras(value) is not None:
            if value:
                mapped.parameters["loras"] = _loras(value)
        else:
            mapped.unmapped[key] = value
    return mapped


def _sampler(name: str) -> tuple[str, bool] | None:
    karras = name.endswith(KARRAS_SUFFIX)
    base = name[: -len(KARRAS_SUFFIX)] if karras else name
    return (INVOKE_SAMPLERS[base], karras) if base in INVOKE_SAMPLERS else None


def _model_name(model: Any) -> str | None:
    if not isinstance(model, dict):
        return None
    name = model.get("name", model.get("model_name"))
    return name if isinstance(name, str) else None


def _loras(entries: list[Any]) -> list[dict[str, Any]] | None:
    """The LoRAs as `loras` entries; None when one of them is not understood."""
    loras = []
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        name = _model_name(entry.get("model", entry.get("lora")))
        try:
            weight = as_float(entry.get("weight"))
        except (TypeError, ValueError):
            return None
        if name is None:
            return None
        loras.append({"name": name, "weight": weight})
    return loras
