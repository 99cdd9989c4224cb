"""From AUTOMATIC1111's bodies to the native request models (schemas/generate.py), and from a
finished job back to A1111's `info`. The native models check every range, so a value out of range
is the native validation error, reported under A1111's field name."""

from __future__ import annotations

import time
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from sdcpp_rest import __version__
from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.compat.a1111.options import NO_VAE, UserOptions
from sdcpp_rest.compat.a1111.schemas import Img2ImgBody, Txt2ImgBody
from sdcpp_rest.compat.a1111.vocab import (
    LATENT_UPSCALERS,
    NO_UPSCALER,
    PIXEL_UPSCALERS,
    RESIZE_MODES,
    NameNotFound,
    sampler_by_name,
    sampler_display_name,
    scheduler_by_name,
)
from sdcpp_rest.compat.checkpoints import short_hash, stem
from sdcpp_rest.compat.running import OutputImage
from sdcpp_rest.jobs.planning import GenerationRequest
from sdcpp_rest.schemas.generate import ControlNetRequest, Img2ImgRequest, InpaintingRequest, Text2ImgRequest
from sdcpp_rest.schemas.jobs import JobPublic
from sdcpp_rest.schemas.parameters import DEFAULT_SAMPLER, PARAMETER_RANGES

# Native field -> the A1111 field a client knows it by (for validation messages).
_A1111_FIELDS = {
    "batch_count": "batch_size*n_iter", "strength": "denoising_strength", "sampling_method": "sampler_name",
    "init_image": "init_images", "mask_image": "mask", "invert_mask": "inpainting_mask_invert",
    "control_image": "ControlNet.image", "control_strength": "ControlNet.weight",
    "control_net": "ControlNet.model", "model_name": "sd_model_checkpoint", "vae_path": "sd_vae",
    "hires": "hr", "preview_interval": "show_progress_every_n_steps",
}  # fmt: skip
HIRES_DENOISING_DEFAULT = PARAMETER_RANGES["hires_denoising_strength"].default
IMG2IMG_STRENGTH_DEFAULT = PARAMETER_RANGES["strength"].default
_SIZE_STEP = int(PARAMETER_RANGES["width"].step)


def _validated(model: type[BaseModel], data: dict[str, Any]) -> GenerationRequest:
    try:
        request = model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            location = tuple(_A1111_FIELDS.get(str(part), part) for part in error.get("loc", ()))
            errors.append({**error, "loc": ("body", *location)})
        raise RequestValidationError(errors) from None
    assert isinstance(request, Text2ImgRequest)
    return request


def _sampler(body: Txt2ImgBody) -> dict[str, str]:
    """The native sampler and scheduler the body names: an old "DPM++ 2M Karras" name sets the
    scheduler unless the body names one other than automatic. Left out (the model family's
    recommended ones apply, compat/a1111 has no other default) when the body names none."""
    name = body.sampler_name or body.sampler_index
    sampler, implied = sampler_by_name(name) if name else (None, None)
    automatic = not body.scheduler or body.scheduler.strip().lower() == "automatic"
    scheduler = (
        implied if implied and automatic else (None if automatic else scheduler_by_name(body.scheduler))
    )
    chosen = {"sampling_method": sampler, "scheduler": scheduler}
    return {key: value for key, value in chosen.items() if value is not None}


# A1111 fields whose native field takes the model family's recommended value when the body leaves
# them out (A1111 itself would use 512x512, 20 steps, CFG 7 whatever the model).
_FAMILY_DEFAULTED = ("width", "height", "steps", "cfg_scale")


def _hires(body: Txt2ImgBody) -> dict[str, Any] | None:
    if not body.enable_hr:
        return None
    name = (body.hr_upscaler or "").strip()
    upscaler = LATENT_UPSCALERS.get(name) or PIXEL_UPSCALERS.get(name)
    if not name or name == NO_UPSCALER:
        upscaler = "latent"
    return {
        "scale": body.hr_scale,
        "width": body.hr_resize_x or None,
        "height": body.hr_resize_y or None,
        "steps": body.hr_second_pass_steps,
        "denoising_strength": body.denoising_strength
        if body.denoising_strength is not None
        else HIRES_DENOISING_DEFAULT,
        "upscaler": upscaler or name,  # else an ESRGAN model from models/esrgan, checked by the planner
    }


def controlnet_unit(body: Txt2ImgBody) -> dict[str, Any] | None:
    """The first enabled ControlNet unit of alwayson_scripts that names a model (the engine runs one)."""
    for script, value in body.alwayson_scripts.items():
        if script.lower() != "controlnet" or not isinstance(value, dict):
            continue
        for unit in value.get("args") or []:
            if not isinstance(unit, dict) or unit.get("enabled", True) is False:
                continue
            model = str(unit.get("model") or "").strip()
            if model and model != NO_UPSCALER:
                return unit
    return None


def _controlnet_fields(unit: dict[str, Any], fallback_image: str | None) -> dict[str, Any]:
    image = unit.get("image") or unit.get("input_image")
    if isinstance(image, dict):  # older ControlNet versions: {"image": ..., "mask": ...}
        image = image.get("image")
    model = str(unit["model"]).strip()
    if model.endswith("]") and " [" in model:  # ControlNet's own `name [hash]` titles
        model = model[: model.rindex(" [")]
    return {
        "control_net": model,
        "control_image": image or fallback_image or "",
        "control_strength": min(max(float(unit.get("weight", 1.0) or 0.0), 0.0), 2.0),
        "canny": "canny" in str(unit.get("module") or "").lower(),
    }


def to_native(body: Txt2ImgBody, options: UserOptions, checkpoint: str | None) -> GenerationRequest:
    """The native request of a txt2img or img2img body, with the user's options applied (the body's
    override_settings win)."""
    overrides = body.override_settings
    vae = overrides.get("sd_vae", options.vae)
    clip = overrides.get("CLIP_stop_at_last_layers") or body.clip_skip or options.clip_stop_at_last_layers
    data: dict[str, Any] = {
        "model_name": checkpoint,
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        # Applied by the planner, as for native requests (the caller's own styles over shared ones).
        "styles": body.styles,
        # A1111 takes any size and works on multiples of 8.
        "width": body.width - body.width % _SIZE_STEP,
        "height": body.height - body.height % _SIZE_STEP,
        "steps": body.steps,
        "cfg_scale": body.cfg_scale,
        **_sampler(body),
        "seed": "random" if body.seed < 0 else body.seed,
        "batch_count": body.batch_size * body.n_iter,
        "clip_skip": clip,
        "vae_path": None if vae in NO_VAE or vae is None else str(vae),
        "preview": "proj" if options.live_previews else "none",
        "preview_interval": options.preview_every_n_steps,
        "hires": _hires(body),
    }
    for name in _FAMILY_DEFAULTED:
        if name not in body.model_fields_set:
            del data[name]
    unit = controlnet_unit(body)
    if not isinstance(body, Img2ImgBody):
        if unit is None:
            return _validated(Text2ImgRequest, data)
        return _validated(ControlNetRequest, {**data, **_controlnet_fields(unit, None)})
    if not body.init_images:
        raise NameNotFound("Init image not found", field="init_images")
    data.update(
        init_image=body.init_images[0],
        strength=body.denoising_strength if body.denoising_strength is not None else IMG2IMG_STRENGTH_DEFAULT,
        resize_mode=RESIZE_MODES.get(body.resize_mode, "resize"),
        hires=None,  # A1111 has no hires fix in img2img
    )
    if body.mask:
        # The engine repaints the mask's white part; ControlNet and a mask do not combine there.
        mask_blur = min(max(body.mask_blur, 0), int(PARAMETER_RANGES["mask_blur"].maximum))
        data.update(mask_image=body.mask, mask_blur=mask_blur, invert_mask=bool(body.inpainting_mask_invert))
        return _validated(InpaintingRequest, data)
    if unit is not None:
        return _validated(ControlNetRequest, {**data, **_controlnet_fields(unit, body.init_images[0])})
    return _validated(Img2ImgRequest, data)


def parameters_of(body: Txt2ImgBody) -> dict[str, Any]:
    """The request with its defaults, as A1111 echoes it (without the images, as A1111 does)."""
    parameters = body.model_dump()
    if isinstance(body, Img2ImgBody):
        parameters.update(init_images=None, mask=None)
    return parameters


def info_of(
    body: Txt2ImgBody, job: JobPublic, images: list[OutputImage], checkpoint: ModelView | None
) -> dict[str, Any]:
    """A1111's `info` (a JSON string on the wire) of a finished job."""
    params = job.parameters
    count = int(params.get("batch_count", len(images)))
    seeds = [job.seed + index for index in range(count)]
    vae = params.get("vae_path")
    if job.mode == "text2img" and params.get("hires"):
        denoising = params["hires"].get("denoising_strength")
    else:
        denoising = params.get("strength", 0)
    started = job.start_time or job.queued_time
    return {
        "prompt": job.prompt,
        "all_prompts": [job.prompt] * count,
        "negative_prompt": params.get("negative_prompt", ""),
        "all_negative_prompts": [params.get("negative_prompt", "")] * count,
        "seed": job.seed,
        "all_seeds": seeds,
        "subseed": -1,  # subseeds are not a thing of the engine
        "all_subseeds": [-1] * count,
        "subseed_strength": 0,
        "width": params.get("width", body.width),
        "height": params.get("height", body.height),
        "sampler_name": sampler_display_name(str(params.get("sampling_method", DEFAULT_SAMPLER))),
        "scheduler": params.get("scheduler"),
        "cfg_scale": params.get("cfg_scale", body.cfg_scale),
        "steps": params.get("steps", body.steps),
        "batch_size": body.batch_size,
        "n_iter": body.n_iter,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": stem(checkpoint.model.name) if checkpoint else job.model_name,
        "sd_model_hash": short_hash(checkpoint) if checkpoint else None,
        "sd_vae_name": stem(str(vae)) if vae else None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": denoising,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": [image.infotext for image in images],
        "styles": body.styles,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(started)),
        "clip_skip": params.get("clip_skip"),
        "is_using_inpainting_conditioning": False,
        "version": f"sdcpp-rest {__version__}",
        "job_id": job.id,
    }
