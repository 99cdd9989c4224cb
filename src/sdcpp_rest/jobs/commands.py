"""From a stored job to the command an engine worker runs.

The stored names are resolved to files again at run time: a file may have gone or changed while the
job waited. A name that no longer resolves fails the job with MODEL_NOT_FOUND (JobPreparationError);
it never reaches the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdcpp_rest.catalog.files import CHECKPOINT_FOLDERS, COMPONENT_FOLDERS, CatalogError, ModelFiles
from sdcpp_rest.catalog.intake import NameTaken, intake_target
from sdcpp_rest.engine.protocol import ConvertCommand, EngineContext, GenerateCommand, HiresPass, ModeOptions
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.jobs.model_refs import (
    LORA_TAG,
    LoraFile,
    component_path,
    controlnet_file,
    embedding_files,
    esrgan_file,
    hires_upscaler,
    lora_names,
    lora_root,
    resolve_loras,
    taesd_file,
)
from sdcpp_rest.jobs.params import (
    ControlNetParams,
    FileJobParams,
    Img2ImgParams,
    Img2VidParams,
    InpaintingParams,
    JobParams,
    ModelConvertParams,
    ModelDownloadParams,
    Text2ImgParams,
    Txt2VidParams,
    UpscaleParams,
)
from sdcpp_rest.jobs.parts import check_parts, part_labels, parts_infotext
from sdcpp_rest.jobs.records import JobPreparationError, JobRecord
from sdcpp_rest.jobs.sampling import sampling_infotext, sampling_options
from sdcpp_rest.schemas.parameters import SAMPLER_DISPLAY_NAMES, SAMPLERS

INFOTEXT_VERSION = "sdcpp-rest"


def describe_job_files(job: JobRecord) -> str:
    """The files a job loads, for messages about a crash: any of them may be the one at fault
    (a LoRA of the wrong shape, a ControlNet in an unexpected naming; ENGINE_NOTES.md)."""
    p = job.params
    parts = [f"model '{job.model_name}'"] if job.model_name else []
    if isinstance(p, UpscaleParams):
        return ", ".join([*parts, f"upscaler '{p.upscaler}'"])
    if isinstance(p, ModelConvertParams):  # issue 16
        return f"convert of '{p.source}' to {p.wtype}"
    if isinstance(p, ModelDownloadParams):  # issue 16: never runs in an engine worker
        return "no model"
    named = [("VAE", p.vae_path), ("TAESD", p.taesd_path), *part_labels(p)]
    if isinstance(p, ControlNetParams):
        named.append(("ControlNet", p.control_net))
    parts += [f"{label} '{value}'" for label, value in named if value]
    loras = lora_names(p.prompt, p.loras)
    if loras:
        parts.append("LoRA " + ", ".join(f"'{name}'" for name in loras))
    if p.upscaler:
        parts.append(f"upscaler '{p.upscaler}'")
    return ", ".join(parts) or "no model"


class JobCommands:
    """Builds engine commands from stored jobs; the scheduler calls `build` when a job starts."""

    def __init__(self, files: ModelFiles, job_dir: Callable[[str], Path], default_threads: int) -> None:
        self._files = files
        self._job_dir = job_dir
        self._default_threads = default_threads

    def default_context(self, model_path: str) -> EngineContext:
        """The context a request with no engine options builds for this checkpoint: what an explicit
        load (POST /api/models/{id}/load) loads, so the next plain job needs no reload."""
        return EngineContext(
            model_path=model_path, n_threads=self._default_threads, lora_model_dir=self._default_lora_dir()
        )

    def _default_lora_dir(self) -> str:
        folder = self._files.folder(COMPONENT_FOLDERS["lora_model_dir"])
        return str(folder) if folder.is_dir() else ""

    def model_path(self, job: JobRecord) -> str:
        """The checkpoint (or diffusion model) file the job will load, as its engine context names it
        ("" for none)."""
        if isinstance(job.params, UpscaleParams | FileJobParams):
            return ""
        try:
            if job.params.diffusion_model_path:
                return str(
                    self._files.resolve_component("diffusion_model_path", job.params.diffusion_model_path)
                )
            return str(self._files.resolve_checkpoint(job.params.model_name).path)
        except CatalogError:
            return ""  # it will fail with MODEL_NOT_FOUND on whichever worker takes it

    def build(self, job: JobRecord) -> GenerateCommand | ConvertCommand:
        try:
            if isinstance(job.params, UpscaleParams):
                return self._upscale(job, job.params)
            if isinstance(job.params, ModelConvertParams):
                return self._convert(job, job.params)
            if isinstance(job.params, ModelDownloadParams):  # issue 16: the engine slots skip these
                raise JobPreparationError(
                    ErrorCode.INTERNAL_ERROR, "a model download reached an engine worker"
                )
            return self._generate(job, job.params)
        except CatalogError as exc:
            raise JobPreparationError(ErrorCode.MODEL_NOT_FOUND, str(exc)) from None
        except ApiError as exc:
            raise JobPreparationError(ErrorCode.MODEL_NOT_FOUND, exc.message) from None

    def _convert(self, job: JobRecord, p: ModelConvertParams) -> ConvertCommand:
        """Issue 16: the source checkpoint, and a hidden part file beside the new GGUF's name (the
        worker renames it when the engine succeeds, so a failed convert leaves no half file)."""
        source = self._files.resolve_checkpoint(p.source).path
        folder = self._files.folder(CHECKPOINT_FOLDERS[0])
        try:
            target = intake_target(folder, "checkpoint", p.filename, job.id.replace("-", "")[:12])
        except NameTaken as exc:
            raise JobPreparationError(ErrorCode.MODEL_IN_USE, exc.message) from None
        return ConvertCommand(job.id, str(source), str(target.part), str(target.final), p.wtype)

    def _generate(self, job: JobRecord, p: Text2ImgParams) -> GenerateCommand:
        files = self._files
        components = {field: component_path(files, field, getattr(p, field)) for field in COMPONENT_FOLDERS}
        # A split model (diffusion model + parts) has no checkpoint; the parts must fit its family.
        diffusion_model = components["diffusion_model_path"]
        model_file = Path(diffusion_model) if diffusion_model else files.resolve_checkpoint(p.model_name).path
        check_parts(components, model_file)
        loras = resolve_loras(files, p.prompt, p.loras, p.lora_model_dir)
        taesd = taesd_file(files, p.taesd_path, p.use_taesd)
        control_net = controlnet_file(files, p.control_net) if isinstance(p, ControlNetParams) else None
        upscaler = esrgan_file(files, p.upscaler)
        hires = self._hires_pass(p)
        embeddings = embedding_files(files, p.embedding_dir, f"{p.prompt} {p.negative_prompt}")
        context = EngineContext(
            model_path="" if diffusion_model else str(model_file),
            n_threads=p.n_threads,
            offload_params_to_cpu=p.offload_params_to_cpu,
            keep_clip_on_cpu=p.clip_on_cpu,
            keep_vae_on_cpu=p.vae_on_cpu,
            diffusion_flash_attn=p.diffusion_flash_attn,
            lora_apply_mode=p.lora_apply_mode or "auto",
            diffusion_conv_direct=p.diffusion_conv_direct,
            vae_conv_direct=p.vae_conv_direct,
            vae_path=components["vae_path"],
            clip_l_path=components["clip_l_path"],
            clip_g_path=components["clip_g_path"],
            taesd_path=str(taesd) if taesd else "",
            lora_model_dir=components["lora_model_dir"] or self._default_lora_dir(),
            embedding_paths=embeddings,
            control_net_path=str(control_net) if control_net else "",
            upscaler_path=str(upscaler) if upscaler else "",
            upscale_tile_size=p.upscale_tile_size,
            diffusion_model_path=diffusion_model,
            high_noise_diffusion_model_path=components["high_noise_diffusion_model_path"],
            t5xxl_path=components["t5xxl_path"],
            llm_path=components["llm_path"],
            llm_vision_path=components["llm_vision_path"],
            clip_vision_path=components["clip_vision_path"],
            wtype=p.wtype or "default",
            prediction=p.prediction or "default",
            enable_mmap=p.enable_mmap,
            max_vram=p.max_vram or 0.0,
        )
        job_dir = self._job_dir(job.id)
        image_mode = p if isinstance(p, Img2ImgParams | Img2VidParams) else None
        options = ModeOptions(
            init_image_path=_input_path(job_dir, p, "init_image"),
            mask_image_path=_input_path(job_dir, p, "mask_image"),
            control_image_path=_input_path(job_dir, p, "control_image"),
            strength=image_mode.strength if image_mode else ModeOptions.strength,
            control_strength=p.control_strength
            if isinstance(p, ControlNetParams)
            else ModeOptions.control_strength,
            canny=p.canny if isinstance(p, ControlNetParams) else False,
            vae_tiling=p.vae_tiling,
            hires=hires,
            upscale_repeats=p.upscale_factor if upscaler else 0,
        )
        fields = infotext_fields(p, model_file)
        fields.update(parts_infotext(p))
        fields.update(sampling_infotext(p))
        if isinstance(p, Txt2VidParams):
            fields.update({"Frames": p.video_frames, "FPS": p.fps})
        fields.update(mode_infotext(p, loras, taesd, control_net, upscaler, hires))
        if embeddings:
            fields["Embeddings"] = ", ".join(Path(path).stem for path in embeddings)
        return GenerateCommand(
            job_id=job.id,
            context=context,
            prompt=_engine_prompt(p.prompt, loras, lora_root(files, p.lora_model_dir)),
            negative_prompt=p.negative_prompt,
            width=p.width,
            height=p.height,
            steps=p.steps,
            cfg_scale=p.cfg_scale,
            sample_method=SAMPLERS[p.sampling_method],
            scheduler=p.scheduler,
            seed=job.seed,
            batch_count=p.batch_count,
            clip_skip=p.clip_skip,
            output_dir=str(job_dir),
            preview_method=p.preview,
            preview_interval=p.preview_interval,
            infotext_fields=fields,
            mode=job.mode.value,
            options=options,
            sampling=sampling_options(p, job_dir),
            video_frames=p.video_frames if isinstance(p, Txt2VidParams) else 0,
            fps=p.fps if isinstance(p, Txt2VidParams) else 0,
        )

    def _hires_pass(self, p: Text2ImgParams) -> HiresPass | None:
        if p.hires is None:
            return None
        upscaler, model_path = hires_upscaler(self._files, p.hires.upscaler)
        # The engine works in multiples of 8 too: the second pass's size is rounded down to one.
        width, height = p.hires.target_size(p.width, p.height)
        return HiresPass(width, height, p.hires.steps, p.hires.denoising_strength, upscaler, model_path)

    def _upscale(self, job: JobRecord, p: UpscaleParams) -> GenerateCommand:
        """Upscale mode: an upscaler-only engine context, no checkpoint."""
        upscaler = esrgan_file(self._files, p.upscaler)
        assert upscaler is not None  # the upscaler is required in this mode
        job_dir = self._job_dir(job.id)
        context = EngineContext(
            model_path="",
            n_threads=p.n_threads,
            upscaler_path=str(upscaler),
            upscale_tile_size=p.upscale_tile_size,
        )
        return GenerateCommand(
            job_id=job.id,
            context=context,
            prompt="",
            negative_prompt="",
            width=p.width,
            height=p.height,
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
                "Upscale factor": p.upscale_factor,
                "Size": f"{p.width}x{p.height}",
                "Version": INFOTEXT_VERSION,
            },
            mode=job.mode.value,
            options=ModeOptions(
                init_image_path=_input_path(job_dir, p, "init_image"), upscale_repeats=p.upscale_factor
            ),
        )


def _input_path(job_dir: Path, params: JobParams, field: str) -> str:
    name = None
    if isinstance(params, Img2ImgParams | UpscaleParams | Img2VidParams):
        name = params.inputs.get(field)
    return str(job_dir / "inputs" / name) if name else ""


def _engine_prompt(prompt: str, loras: list[LoraFile], root: Path) -> str:
    """Structured LoRAs become tags the engine reads; names relative to the LoRA folder, never paths."""
    if not loras:
        return prompt
    stripped = LORA_TAG.sub("", prompt).strip()
    tags = " ".join(
        f"<lora:{lora.path.relative_to(root.resolve()).as_posix()}:{lora.weight:g}>" for lora in loras
    )
    return f"{stripped} {tags}".strip()


def infotext_fields(p: Text2ImgParams, model_path: Path) -> dict[str, Any]:
    """The `Key: value` part of the PNG parameters text (the seed is filled per image by the worker)."""
    return {
        "Steps": p.steps,
        "Sampler": SAMPLER_DISPLAY_NAMES.get(p.sampling_method, p.sampling_method),
        "Schedule type": p.scheduler,
        "CFG scale": p.cfg_scale,
        "Seed": p.seed,
        "Size": f"{p.width}x{p.height}",
        "Model": model_path.stem,
        # The prompt above is the one used, styles applied; their names (quoted: they hold ", ").
        "Styles": ", ".join(p.styles) if p.styles else None,
        "Clip skip": p.clip_skip if p.clip_skip > 1 else None,
        "VAE": Path(p.vae_path).name if p.vae_path else None,
        "Version": INFOTEXT_VERSION,
    }


def mode_infotext(
    p: Text2ImgParams,
    loras: list[LoraFile],
    taesd: Path | None,
    control_net: Path | None,
    upscaler: Path | None,
    hires: HiresPass | None,
) -> dict[str, Any]:
    """The PNG `parameters` fields of the modes and options, in AUTOMATIC1111's names where it has one."""
    fields: dict[str, Any] = {}
    if isinstance(p, Img2ImgParams) and p.inputs.get("init_image"):
        fields["Denoising strength"] = p.strength
        fields["Resize mode"] = p.resize_mode
    if isinstance(p, InpaintingParams):
        fields["Mask blur"] = p.mask_blur
        fields["Mask mode"] = "Inpaint not masked" if p.invert_mask else "Inpaint masked"
    if isinstance(p, ControlNetParams) and control_net is not None:
        fields["ControlNet model"] = control_net.stem
        fields["ControlNet strength"] = p.control_strength
        fields["ControlNet preprocessor"] = "canny" if p.canny else "none"
    if loras:
        fields["LoRAs"] = ", ".join(f"{Path(lora.name).stem}: {lora.weight:g}" for lora in loras)
    if taesd is not None:
        fields["TAESD"] = taesd.stem
    if p.vae_tiling:
        fields["VAE tiling"] = "True"
    if hires is not None:
        fields["Hires resize"] = f"{hires.width}x{hires.height}"
        fields["Hires steps"] = hires.steps or p.steps
        fields["Hires upscaler"] = Path(hires.model_path).stem if hires.model_path else hires.upscaler
        fields["Hires denoising strength"] = hires.denoising_strength
    if upscaler is not None:
        fields["Upscaler"] = upscaler.stem
        fields["Upscale factor"] = p.upscale_factor
    return fields
