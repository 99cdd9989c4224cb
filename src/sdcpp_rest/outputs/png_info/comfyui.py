"""ComfyUI's `prompt` chunk: the graph it ran, in its API format (node id -> {class_type, inputs}; an
input linked to another node's output is [node id, output index]). The main sampler (KSampler or
KSamplerAdvanced) gives the sampler settings; its positive and negative inputs lead back to the text
encoders' text, its latent input to the empty latent's size, its model input through the LoRA loaders
to the checkpoint. The `workflow` chunk (the editor's layout of the same graph) is not read."""

from __future__ import annotations

from typing import Any

from sdcpp_rest.outputs.png_info.mapped import Mapped, as_float, as_int, as_text, json_object
from sdcpp_rest.schemas.sampler_names import find_scheduler

SAMPLER_CLASSES = ("KSampler", "KSamplerAdvanced")
# ComfyUI's sampler names -> this API's, for the samplers both have.
COMFY_SAMPLERS = {
    "euler": "euler",
    "euler_ancestral": "euler_a",
    "heun": "heun",
    "dpm_2": "dpm2",
    "dpmpp_2s_ancestral": "dpmpp2s_a",
    "dpmpp_2m": "dpmpp2m",
    "ipndm": "ipndm",
    "ipndm_v": "ipndm_v",
    "lcm": "lcm",
    "ddim": "ddim_trailing",
    "res_multistep": "res_multistep",
    "er_sde": "er_sde",
}
# Links are followed at most this far: a graph with a cycle must not loop.
MAX_LINK_DEPTH = 64
# Sampler inputs that are links or mapped here; the others are reported as unmapped.
_SAMPLER_MAPPED = {
    "seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise",
    "model", "positive", "negative", "latent_image",
}  # fmt: skip


Graph = dict[str, dict[str, Any]]


def read_comfyui_prompt(text: str) -> Mapped | None:
    """The parameters of a ComfyUI prompt graph; None when `text` is no such graph."""
    data = json_object(text)
    if data is None:
        return None
    graph: Graph = {
        str(node_id): node
        for node_id, node in data.items()
        if isinstance(node, dict) and isinstance(node.get("class_type"), str)
        and isinstance(node.get("inputs"), dict)
    }  # fmt: skip
    if not graph:
        return None
    mapped = Mapped()
    samplers = sorted(
        (node_id for node_id, node in graph.items() if node["class_type"] in SAMPLER_CLASSES), key=_order
    )
    if not samplers:
        mapped.unmapped["samplers"] = "no KSampler or KSamplerAdvanced node in the graph"
        return mapped
    main = next(
        (s for s in samplers if _empty_latent(graph, graph[s]["inputs"].get("latent_image"))), samplers[0]
    )
    if len(samplers) > 1:
        mapped.unmapped["other_samplers"] = {
            node_id: graph[node_id]["inputs"] for node_id in samplers if node_id != main
        }
    _sampler_settings(graph, graph[main], mapped)
    return mapped


# Node ids are small numbers; a longer run of digits is ordered as text.
MAX_ID_DIGITS = 18


def _order(node_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (ComfyUI numbers its nodes), then any others."""
    numeric = node_id.isascii() and node_id.isdigit() and len(node_id) <= MAX_ID_DIGITS
    return (int(node_id), "") if numeric else (1 << 62, node_id)


def _node(graph: Graph, link: Any) -> tuple[dict[str, Any], int] | None:
    """The node a link [node id, output index] points at, and the index."""
    if isinstance(link, list) and len(link) == 2 and isinstance(link[1], int):
        node = graph.get(str(link[0]))
        if node is not None:
            return node, link[1]
    return None


def _empty_latent(graph: Graph, link: Any) -> dict[str, Any] | None:
    found = _node(graph, link)
    if found is None:
        return None
    node = found[0]
    kind = node["class_type"]
    return node["inputs"] if kind.startswith("Empty") and "Latent" in kind else None


def _sampler_settings(graph: Graph, sampler: dict[str, Any], mapped: Mapped) -> None:
    inputs = sampler["inputs"]
    seed = inputs.get("noise_seed", inputs.get("seed"))
    if seed is not None:
        mapped.put("seed", seed, as_int, "seed")
    for key, name, convert in (("steps", "steps", as_int), ("cfg", "cfg_scale", as_float)):
        if key in inputs:
            mapped.put(name, inputs[key], convert, key)
    sampler_name = inputs.get("sampler_name")
    if isinstance(sampler_name, str) and sampler_name in COMFY_SAMPLERS:
        mapped.parameters["sampling_method"] = COMFY_SAMPLERS[sampler_name]
    elif sampler_name is not None:
        mapped.unmapped["sampler_name"] = sampler_name
    scheduler = inputs.get("scheduler")
    found = find_scheduler(scheduler) if isinstance(scheduler, str) else None
    if found is not None:
        mapped.parameters["scheduler"] = found
    elif scheduler is not None:
        mapped.unmapped["scheduler"] = scheduler
    denoise = inputs.get("denoise")
    if denoise is not None and denoise != 1:
        mapped.put("strength", denoise, as_float, "denoise")
    for polarity, name in (("positive", "prompt"), ("negative", "negative_prompt")):
        text = _text(graph, inputs.get(polarity), polarity)
        if text is not None:
            mapped.parameters[name] = text
        elif polarity in inputs:
            mapped.unmapped[polarity] = "no text encoder's text found behind this input"
    latent = _empty_latent(graph, inputs.get("latent_image"))
    if latent is not None:
        for key in ("width", "height"):
            if key in latent:
                mapped.put(key, latent[key], as_int, key)
        if latent.get("batch_size", 1) != 1:
            mapped.put("batch_count", latent["batch_size"], as_int, "batch_size")
    _model(graph, inputs.get("model"), mapped)
    clip_skip = next((n["inputs"] for n in graph.values() if n["class_type"] == "CLIPSetLastLayer"), None)
    if clip_skip is not None and "stop_at_clip_layer" in clip_skip:
        mapped.put("clip_skip", clip_skip["stop_at_clip_layer"], lambda v: -as_int(v), "stop_at_clip_layer")
    for key, value in inputs.items():
        if key not in _SAMPLER_MAPPED:
            mapped.unmapped[key] = value


def _text(graph: Graph, link: Any, polarity: str) -> str | None:
    """The text of the encoder a conditioning link leads back to (through nodes that pass conditioning
    on: ControlNet appliers, combines, timestep ranges ...)."""
    for _ in range(MAX_LINK_DEPTH):
        found = _node(graph, link)
        if found is None:
            return None
        node, index = found
        inputs = node["inputs"]
        for key in ("text", "text_g", "prompt"):
            if key in inputs:
                return _string(graph, inputs[key])
        if "positive" in inputs and "negative" in inputs:  # e.g. ControlNetApplyAdvanced: (pos, neg)
            link = inputs["positive" if index == 0 else "negative"]
        else:
            link = next(
                (value for key, value in inputs.items() if key.startswith("conditioning")),
                inputs.get(polarity),
            )
    return None


def _string(graph: Graph, value: Any) -> str | None:
    """A text input's value, or the text of the primitive or string node it is linked to."""
    for _ in range(MAX_LINK_DEPTH):
        if isinstance(value, str):
            return value
        found = _node(graph, value)
        if found is None:
            return None
        inputs = found[0]["inputs"]
        value = next((inputs[key] for key in ("text", "string", "value", "prompt") if key in inputs), None)
    return None


def _model(graph: Graph, link: Any, mapped: Mapped) -> None:
    """The checkpoint behind the sampler's model input, and the LoRA loaders on the way."""
    loras: list[dict[str, Any]] = []
    for _ in range(MAX_LINK_DEPTH):
        found = _node(graph, link)
        if found is None:
            break
        inputs = found[0]["inputs"]
        if "lora_name" in inputs:
            try:
                loras.append(
                    {"name": as_text(inputs["lora_name"]), "weight": as_float(inputs["strength_model"])}
                )
            except (KeyError, TypeError, ValueError):
                mapped.unmapped["lora_name"] = inputs["lora_name"]
        for key in ("ckpt_name", "unet_name"):
            if key in inputs:
                mapped.put("model_name", inputs[key], as_text, key)
                break
        else:
            link = inputs.get("model")
            continue
        break
    if loras:
        mapped.parameters["loras"] = loras[::-1]  # in the order they were applied
