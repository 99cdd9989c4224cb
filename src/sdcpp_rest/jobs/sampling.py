"""A job's family parameters as the engine takes them (SamplingOptions) and as its PNG `parameters`
text records them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdcpp_rest.engine.protocol import SamplingOptions
from sdcpp_rest.jobs.inputs import INPUTS_FOLDER
from sdcpp_rest.jobs.params import Text2ImgParams
from sdcpp_rest.schemas.family import ENGINE_CACHE_MODES


def sampling_options(p: Text2ImgParams, job_dir: Path) -> SamplingOptions:
    """The engine's view of the family parameters; reference images by path in the job's inputs."""
    cache_mode = p.cache_mode or "none"
    return SamplingOptions(
        guidance=p.guidance,
        flow_shift=p.flow_shift,
        image_cfg_scale=p.image_cfg_scale,
        slg_scale=p.slg_scale,
        skip_layers=tuple(p.skip_layers) if p.skip_layers is not None else None,
        skip_layer_start=p.skip_layer_start,
        skip_layer_end=p.skip_layer_end,
        eta=p.eta,
        sigmas=tuple(p.sigmas) if p.sigmas else None,
        cache_mode=ENGINE_CACHE_MODES.get(cache_mode, cache_mode),
        cache_threshold=p.cache_threshold,
        cache_start_percent=p.cache_start_percent,
        cache_end_percent=p.cache_end_percent,
        ref_image_paths=tuple(str(job_dir / INPUTS_FOLDER / name) for name in p.ref_inputs),
    )


def sampling_infotext(p: Text2ImgParams) -> dict[str, Any]:
    """The family parameters a job set, in the PNG `parameters` text (None values are left out)."""
    cache = p.cache_mode if p.cache_mode and p.cache_mode != "none" else None
    return {
        "Speed": p.speed,
        "Guidance": p.guidance,
        "Flow shift": p.flow_shift,
        "Image CFG scale": p.image_cfg_scale,
        "SLG scale": p.slg_scale or None,
        "Skip layers": ", ".join(map(str, p.skip_layers)) if p.slg_scale and p.skip_layers else None,
        "Eta": p.eta,
        "Sigmas": ", ".join(f"{sigma:g}" for sigma in p.sigmas) if p.sigmas else None,
        "Cache mode": cache,
        "Cache threshold": p.cache_threshold if cache else None,
        "Prediction": p.prediction,
        "Weight type": p.wtype,
        "LoRA apply mode": p.lora_apply_mode if p.loras or "<lora:" in p.prompt else None,
        "Reference images": len(p.ref_inputs) or None,
    }
