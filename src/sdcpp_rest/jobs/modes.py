"""The image modes (img2img, inpainting, ControlNet, upscale) and the options every generation shares
(LoRAs, embeddings, TAESD, hires fix, VAE tiling, upscaling).

Submitting checks every named file and decodes every image before the job is a row, so a bad request
is an error reply, never a failed job. Running turns the stored parameters into the engine's terms
again (files may have changed while the job waited).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from pydantic import BaseModel

from sdcpp_rest.catalog.files import COMPONENT_FOLDERS, ModelFiles
from sdcpp_rest.engine.protocol import EngineContext, GenerateCommand, HiresPass, ModeOptions
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.inputs import (
    ImageLimits,
    decode_image,
    default_size,
    fit_image,
    prepare_mask,
    save_input,
)
from sdcpp_rest.jobs.job_files import LORA_TAG
from sdcpp_rest.jobs.records import JobRecord, NewJob
from sdcpp_rest.jobs.scheduler.scheduler import JobPreparationError
from sdcpp_rest.paths import PathOutsideRoot, resolve_inside
from sdcpp_rest.schemas.generate import Img2ImgRequest, InpaintingRequest, UpscaleRequest
from sdcpp_rest.schemas.options import HiresOptions
from sdcpp_rest.schemas.parameters import HIRES_LATENT_UPSCALERS, MAX_SEED

if TYPE_CHECKING:
    from sdcpp_rest.jobs.generation import GenerationService

# The binding tries these extensions after the bare name (stable_diffusion.py, _extract_and_build_loras).
LORA_EXTENSIONS = (".safetensors", ".pt", ".gguf")
MODEL_EXTENSIONS = (".safetensors", ".gguf", ".pth", ".pt", ".bin", ".ckpt")
EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin", ".gguf")
CONTROLNET_FOLDER, ESRGAN_FOLDER = "controlnet", "esrgan"


def resolve_named(files: ModelFiles, folder: str, field: str, name: str, extensions: tuple[str, ...]) -> Path:
    """A file named by a request inside `models/{folder}`, with or without its extension."""
    root = files.folder(folder)
    for candidate in (name, *(name + ext for ext in extensions)):
        try:
            path = resolve_inside(root, candidate)
        except PathOutsideRoot as exc:
            raise InvalidParameters(
                f"{field}: '{name}' is not inside the models folder's {folder}/: {exc}"
            ) from None
        if path.is_file():
            return path
    raise ModelNotFound(f"{field}: '{name}' not found in the models folder's {folder}/")


def _lora_root(files: ModelFiles, params: dict[str, Any]) -> Path:
    if params.get("lora_model_dir"):
        return files.resolve_component("lora_model_dir", params["lora_model_dir"])
    return files.folder(COMPONENT_FOLDERS["lora_model_dir"])


def resolve_loras(files: ModelFiles, params: dict[str, Any]) -> list[tuple[str, float, Path]]:
    """(name, weight, file) of every LoRA: `<lora:NAME:W>` tags of the prompt, then `loras`."""
    found: list[tuple[str, float, Path]] = []
    root = _lora_root(files, params)
    folder = f"{COMPONENT_FOLDERS['lora_model_dir']}/{params.get('lora_model_dir') or ''}".rstrip("/")
    for name, weight_text in LORA_TAG.findall(params.get("prompt", "")):
        try:
            weight = float(weight_text)
        except ValueError:
            raise InvalidParameters(
                f"prompt: LoRA weight '{weight_text}' of '{name}' is not a number"
            ) from None
        found.append((name, weight, _resolve_in(root, folder, "prompt", name, LORA_EXTENSIONS)))
    for index, lora in enumerate(params.get("loras") or []):
        path = _resolve_in(root, folder, f"loras.{index}.name", lora["name"], LORA_EXTENSIONS)
        found.append((lora["name"], float(lora["weight"]), path))
    return found


def _resolve_in(root: Path, folder: str, field: str, name: str, extensions: tuple[str, ...]) -> Path:
    for candidate in (name, *(name + ext for ext in extensions)):
        try:
            path = resolve_inside(root, candidate)
        except PathOutsideRoot as exc:
            raise InvalidParameters(
                f"{field}: LoRA '{name}' is not inside the models folder's {folder}/: {exc}"
            ) from None
        if path.is_file():
            return path
    raise ModelNotFound(f"{field}: LoRA '{name}' not found in the models folder's {folder}/")


def _taesd_file(files: ModelFiles, params: dict[str, Any]) -> Path | None:
    if params.get("taesd_path"):
        return files.resolve_component("taesd_path", params["taesd_path"])
    if not params.get("use_taesd"):
        return None
    folder = files.folder(COMPONENT_FOLDERS["taesd_path"])
    candidates = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in MODEL_EXTENSIONS)
    if not candidates:
        raise InvalidParameters("use_taesd: no TAESD file in the models folder's taesd/")
    return candidates[0]


def _embedding_files(files: ModelFiles, params: dict[str, Any]) -> tuple[str, ...]:
    """Without embedding_dir: the files of models/embeddings whose name appears as a word in a prompt.
    Loading only those keeps a broken, unused embedding from breaking every job."""
    folder = files.folder(COMPONENT_FOLDERS["embedding_dir"])
    if params.get("embedding_dir") or not folder.is_dir():
        return ()
    text = f"{params.get('prompt', '')} {params.get('negative_prompt', '')}"
    words = set(re.findall(r"[\w.-]+", text))
    return tuple(
        str(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in EMBEDDING_EXTENSIONS and path.stem in words
    )


def _hires_upscaler(files: ModelFiles, name: str) -> tuple[str, str]:
    if name in HIRES_LATENT_UPSCALERS:
        return name, ""
    return "model", str(resolve_named(files, ESRGAN_FOLDER, "hires.upscaler", name, MODEL_EXTENSIONS))


def check_generation_options(files: ModelFiles, request: BaseModel) -> None:
    """Every file the options name exists in its folder: InvalidParameters naming the field otherwise."""
    params = request.model_dump()
    resolve_loras(files, params)
    _taesd_file(files, params)
    if params.get("upscaler"):
        resolve_named(files, ESRGAN_FOLDER, "upscaler", params["upscaler"], MODEL_EXTENSIONS)
    if params.get("hires"):
        _hires_upscaler(files, params["hires"]["upscaler"])
    if params.get("control_net"):
        resolve_named(files, CONTROLNET_FOLDER, "control_net", params["control_net"], MODEL_EXTENSIONS)


# --- submit ---


def decode_inputs(
    request: Img2ImgRequest | UpscaleRequest, limits: ImageLimits
) -> tuple[dict[str, Image.Image], tuple[int, int] | None]:
    """Decoded images by field, fitted to the generation size; and that size (None for upscale)."""
    if isinstance(request, UpscaleRequest):
        return {"init_image": decode_image("image", request.image, limits).convert("RGB")}, None
    raw: dict[str, Image.Image] = {}
    for field in ("init_image", "mask_image", "control_image"):
        value = getattr(request, field, None)
        if value is not None:  # "" reaches decode_image, which names the field
            raw[field] = decode_image(field, value, limits)
    first = raw.get("init_image") or raw["control_image"]
    if "mask_image" in raw and raw["mask_image"].size != first.size:
        mask, image = raw["mask_image"].size, first.size
        raise InvalidParameters(
            f"mask_image: {mask[0]}x{mask[1]} differs from init_image's {image[0]}x{image[1]}"
        )
    width, height = default_size(first)
    size = (request.width or width, request.height or height)
    fitted: dict[str, Image.Image] = {}
    for field, image in raw.items():
        if field == "mask_image" and isinstance(request, InpaintingRequest):
            image = prepare_mask(image, request.mask_blur, request.invert_mask)
        else:
            image = image.convert("RGB")
        fitted[field] = fit_image(image, size[0], size[1], request.resize_mode)
    return fitted, size


def prepare_mode_job(
    service: GenerationService,
    files: ModelFiles,
    mode: str,
    request: Img2ImgRequest | UpscaleRequest,
    owner: str | None,
    limits: ImageLimits,
    job_dir: Callable[[str], Path],
    default_threads: int,
) -> NewJob:
    """Check the names, decode and store the inputs; the job to add (mode = the endpoint's name)."""
    if isinstance(request, UpscaleRequest):
        model_name = None
        resolve_named(files, ESRGAN_FOLDER, "upscaler", request.upscaler, MODEL_EXTENSIONS)
    else:
        model_name = service.resolve_model_name(request.model_name)
        service.check_components(request)
    images, size = decode_inputs(request, limits)
    job_id = str(uuid.uuid4())
    params = request.model_dump(exclude={"init_image", "mask_image", "control_image", "image"})
    params["inputs"] = {
        field: save_input(job_dir(job_id), field, image).name for field, image in images.items()
    }
    if isinstance(request, UpscaleRequest):
        seed, total = 0, 1
        params.update(prompt="", width=images["init_image"].width, height=images["init_image"].height)
    else:
        seed = secrets.randbelow(MAX_SEED + 1) if request.seed in ("random", -1) else int(request.seed)
        assert size is not None
        params.update(model_name=model_name, seed=seed, width=size[0], height=size[1])
        total = request.planned_total_steps()
    if params.get("n_threads") is None:
        params["n_threads"] = default_threads
    return NewJob(
        id=job_id,
        mode=mode,
        owner=owner,
        model_name=model_name,
        prompt=params["prompt"],
        seed=seed,
        total_steps=total,
        params=params,
    )


# --- run ---


def _input_path(job_dir: Path, params: dict[str, Any], field: str) -> str:
    name = (params.get("inputs") or {}).get(field)
    return str(job_dir / "inputs" / name) if name else ""


def apply_mode(command: GenerateCommand, job: JobRecord, files: ModelFiles) -> GenerateCommand:
    """Add what the job's mode and options need to the text2img command built from its parameters."""
    p = job.params
    try:
        loras = resolve_loras(files, p)
        taesd = _taesd_file(files, p)
        control_net = (
            resolve_named(files, CONTROLNET_FOLDER, "control_net", p["control_net"], MODEL_EXTENSIONS)
            if p.get("control_net")
            else None
        )
        upscaler = (
            resolve_named(files, ESRGAN_FOLDER, "upscaler", p["upscaler"], MODEL_EXTENSIONS)
            if p.get("upscaler")
            else None
        )
        hires = _hires_pass(files, p)
    except InvalidParameters as exc:
        raise JobPreparationError("MODEL_NOT_FOUND", exc.message) from None
    context = dataclasses.replace(
        command.context,
        taesd_path=str(taesd) if taesd else "",
        control_net_path=str(control_net) if control_net else "",
        upscaler_path=str(upscaler) if upscaler else "",
        upscale_tile_size=p.get("upscale_tile_size", 128),
        embedding_paths=command.context.embedding_paths or _embedding_files(files, p),
    )
    job_dir = Path(command.output_dir)
    options = ModeOptions(
        init_image_path=_input_path(job_dir, p, "init_image"),
        mask_image_path=_input_path(job_dir, p, "mask_image"),
        control_image_path=_input_path(job_dir, p, "control_image"),
        strength=p.get("strength", 0.75),
        control_strength=p.get("control_strength", 0.9),
        canny=p.get("canny", False),
        vae_tiling=p.get("vae_tiling", False),
        hires=hires,
        upscale_repeats=p.get("upscale_factor", 1) if upscaler else 0,
    )
    # Structured LoRAs become tags the engine reads; names relative to the LoRA folder, never paths.
    root = _lora_root(files, p)
    prompt = LORA_TAG.sub("", p["prompt"]).strip()
    tags = " ".join(
        f"<lora:{path.relative_to(root.resolve()).as_posix()}:{weight:g}>" for _, weight, path in loras
    )
    fields = dict(command.infotext_fields)
    fields.update(mode_infotext(p, loras, taesd, control_net, upscaler, hires))
    if context.embedding_paths:
        fields["Embeddings"] = ", ".join(Path(path).stem for path in context.embedding_paths)
    return dataclasses.replace(
        command,
        context=context,
        prompt=f"{prompt} {tags}".strip() if tags else p["prompt"],
        mode=job.mode,
        options=options,
        infotext_fields=fields,
    )


def _hires_pass(files: ModelFiles, p: dict[str, Any]) -> HiresPass | None:
    hires = p.get("hires")
    if not hires:
        return None
    upscaler, model_path = _hires_upscaler(files, hires["upscaler"])
    # The engine works in multiples of 8 too: the second pass's size is rounded down to one.
    width, height = HiresOptions.model_validate(hires).target_size(p["width"], p["height"])
    return HiresPass(width, height, hires["steps"], hires["denoising_strength"], upscaler, model_path)


def mode_infotext(
    p: dict[str, Any],
    loras: list[tuple[str, float, Path]],
    taesd: Path | None,
    control_net: Path | None,
    upscaler: Path | None,
    hires: HiresPass | None,
) -> dict[str, Any]:
    """The PNG `parameters` fields of the modes and options, in AUTOMATIC1111's names where it has one."""
    fields: dict[str, Any] = {}
    if p.get("inputs", {}).get("init_image") and "strength" in p:
        fields["Denoising strength"] = p["strength"]
        fields["Resize mode"] = p.get("resize_mode")
    if "mask_blur" in p:
        fields["Mask blur"] = p["mask_blur"]
        fields["Mask mode"] = "Inpaint not masked" if p.get("invert_mask") else "Inpaint masked"
    if control_net is not None:
        fields["ControlNet model"] = control_net.stem
        fields["ControlNet strength"] = p["control_strength"]
        fields["ControlNet preprocessor"] = "canny" if p.get("canny") else "none"
    if loras:
        fields["LoRAs"] = ", ".join(f"{Path(name).stem}: {weight:g}" for name, weight, _ in loras)
    if taesd is not None:
        fields["TAESD"] = taesd.stem
    if p.get("vae_tiling"):
        fields["VAE tiling"] = "True"
    if hires is not None:
        fields["Hires resize"] = f"{hires.width}x{hires.height}"
        fields["Hires steps"] = hires.steps or p["steps"]
        fields["Hires upscaler"] = Path(hires.model_path).stem if hires.model_path else hires.upscaler
        fields["Hires denoising strength"] = hires.denoising_strength
    if upscaler is not None:
        fields["Upscaler"] = upscaler.stem
        fields["Upscale factor"] = p.get("upscale_factor", 1)
    return fields


def build_upscale_command(job: JobRecord, files: ModelFiles, job_dir: Path) -> GenerateCommand:
    """Upscale mode: an upscaler-only engine context, no checkpoint."""
    p = job.params
    try:
        upscaler = resolve_named(files, ESRGAN_FOLDER, "upscaler", p["upscaler"], MODEL_EXTENSIONS)
    except InvalidParameters as exc:
        raise JobPreparationError("MODEL_NOT_FOUND", exc.message) from None
    context = EngineContext(
        model_path="",
        n_threads=p["n_threads"],
        upscaler_path=str(upscaler),
        upscale_tile_size=p["upscale_tile_size"],
    )
    return GenerateCommand(
        job_id=job.id,
        context=context,
        prompt="",
        negative_prompt="",
        width=p["width"],
        height=p["height"],
        steps=1,
        cfg_scale=0.0,
        sample_method="",
        scheduler="",
        seed=0,
        batch_count=1,
        clip_skip=-1,
        output_dir=str(job_dir),
        infotext_fields={
            "Upscaler": upscaler.stem,
            "Upscale factor": p["upscale_factor"],
            "Size": f"{p['width']}x{p['height']}",
            "Version": "sdcpp-rest",
        },
        mode="upscale",
        options=ModeOptions(
            init_image_path=_input_path(job_dir, p, "init_image"), upscale_repeats=p["upscale_factor"]
        ),
    )
