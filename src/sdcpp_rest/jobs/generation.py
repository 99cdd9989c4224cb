"""The generation service: turns a request into a queued job, and a queued job into a worker command."""

from __future__ import annotations

import secrets
import statistics
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcpp_rest.catalog.files import COMPONENT_FOLDERS, CatalogError, ModelFiles
from sdcpp_rest.config import Settings
from sdcpp_rest.engine.protocol import EngineContext, GenerateCommand
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.inputs import ImageLimits
from sdcpp_rest.jobs.modes import (
    apply_mode,
    build_upscale_command,
    check_generation_options,
    prepare_mode_job,
)
from sdcpp_rest.jobs.records import JobRecord, JobStatus, NewJob
from sdcpp_rest.jobs.scheduler.scheduler import JobPreparationError, Scheduler
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.outputs.files import OutputStore
from sdcpp_rest.schemas.generate import Img2ImgRequest, Text2ImgRequest, UpscaleRequest
from sdcpp_rest.schemas.jobs import JobOutput, JobPublic
from sdcpp_rest.schemas.parameters import MAX_SEED, SAMPLER_DISPLAY_NAMES, SAMPLERS

if TYPE_CHECKING:
    from sdcpp_rest.catalog.service import CatalogService

_EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin", ".gguf")
# Estimates before a job's first step use this many recent jobs of its model, re-read at most this often.
HISTORY_JOBS = 20
HISTORY_CACHE_SECONDS = 5.0


class GenerationService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        model_files: ModelFiles,
        outputs: OutputStore,
    ) -> None:
        self._settings = settings
        self._store = store
        self._files = model_files
        self._outputs = outputs
        self.scheduler: Scheduler | None = None  # set by the app once the scheduler exists
        self.catalog: CatalogService | None = None  # set by the app: lets model_name be a hash too
        self._history_cache: dict[str, tuple[float, list[JobRecord]]] = {}

    @property
    def model_files(self) -> ModelFiles:
        return self._files

    # --- submit ---
    def resolve_model_name(self, requested: str | None) -> str:
        """The checkpoint a request will use; ModelNotFound/InvalidParameters when there is none."""
        if requested:
            try:
                return self._files.resolve_checkpoint(requested).name
            except CatalogError as exc:
                if exc.outside:
                    raise InvalidParameters(str(exc)) from None
                if self.catalog is None:
                    raise ModelNotFound(str(exc)) from None
                # Not a file name: perhaps the hash or short hash the listing shows as the model's id.
                return self.catalog.get(requested, kind="checkpoint").model.name
        if self._settings.default_model:
            return self.resolve_model_name(self._settings.default_model)
        if self.scheduler is not None:
            for loaded in self.scheduler.loaded_models():
                for checkpoint in self._files.list_checkpoints():
                    if str(checkpoint.path) == loaded:
                        return checkpoint.name
        checkpoints = self._files.list_checkpoints()
        if len(checkpoints) == 1:
            return checkpoints[0].name
        if not checkpoints:
            raise ModelNotFound("no checkpoint found: put one in the models folder's checkpoints/")
        raise InvalidParameters("model_name is required: several checkpoints are available (see /api/models)")

    def check_components(self, request: Text2ImgRequest) -> None:
        for field in COMPONENT_FOLDERS:
            value = getattr(request, field)
            if value:
                try:
                    self._files.resolve_component(field, value)
                except CatalogError as exc:
                    # A path out of its folder is a bad request; a file that is not there, a missing model.
                    raise (InvalidParameters if exc.outside else ModelNotFound)(str(exc)) from None
        check_generation_options(self._files, request)

    @property
    def input_limits(self) -> ImageLimits:
        return ImageLimits(self._settings.max_input_image_bytes, self._settings.max_input_image_pixels)

    def submit_mode(
        self, mode: str, request: Img2ImgRequest | UpscaleRequest, owner: str | None
    ) -> JobRecord:
        """img2img, inpainting, controlnet, upscale: names checked and input images decoded and written
        to the job's inputs folder before the job is added (see jobs/modes.py)."""
        new_job = prepare_mode_job(
            self,
            self._files,
            mode,
            request,
            owner,
            self.input_limits,
            self._outputs.job_dir,
            self._settings.n_threads,
        )
        job = self._store.add(new_job)
        if self.scheduler is not None:
            self.scheduler.notify_work()
        return job

    def submit_text2img(self, request: Text2ImgRequest, owner: str | None) -> JobRecord:
        model_name = self.resolve_model_name(request.model_name)
        self.check_components(request)
        seed = secrets.randbelow(MAX_SEED + 1) if request.seed in ("random", -1) else int(request.seed)
        params = request.model_dump()
        params.update(model_name=model_name, seed=seed)
        if params["n_threads"] is None:
            params["n_threads"] = self._settings.n_threads
        job = self._store.add(
            NewJob(
                id=str(uuid.uuid4()),
                mode="text2img",
                owner=owner,
                model_name=model_name,
                prompt=request.prompt,
                seed=seed,
                total_steps=request.planned_total_steps(),
                params=params,
            )
        )
        if self.scheduler is not None:
            self.scheduler.notify_work()
        return job

    # --- run ---
    def build_command(self, job: JobRecord) -> GenerateCommand:
        """Resolve the stored job's names to files again: they may have changed while it waited."""
        p = job.params
        if job.mode == "upscale":
            return build_upscale_command(job, self._files, self._outputs.job_dir(job.id))
        try:
            checkpoint = self._files.resolve_checkpoint(p["model_name"])
            components = {
                field: str(self._files.resolve_component(field, p[field])) if p.get(field) else ""
                for field in COMPONENT_FOLDERS
            }
        except CatalogError as exc:
            raise JobPreparationError("MODEL_NOT_FOUND", str(exc)) from None
        lora_dir = components["lora_model_dir"] or self._default_lora_dir()
        context = EngineContext(
            model_path=str(checkpoint.path),
            n_threads=p["n_threads"],
            offload_params_to_cpu=p["offload_params_to_cpu"],
            keep_clip_on_cpu=p["clip_on_cpu"],
            keep_vae_on_cpu=p["vae_on_cpu"],
            diffusion_flash_attn=p["diffusion_flash_attn"],
            diffusion_conv_direct=p["diffusion_conv_direct"],
            vae_conv_direct=p["vae_conv_direct"],
            vae_path=components["vae_path"],
            clip_l_path=components["clip_l_path"],
            clip_g_path=components["clip_g_path"],
            taesd_path=components["taesd_path"],
            lora_model_dir=lora_dir,
            embedding_paths=self._embedding_files(components["embedding_dir"]),
        )
        command = GenerateCommand(
            job_id=job.id,
            context=context,
            prompt=p["prompt"],
            negative_prompt=p["negative_prompt"],
            width=p["width"],
            height=p["height"],
            steps=p["steps"],
            cfg_scale=p["cfg_scale"],
            sample_method=SAMPLERS[p["sampling_method"]],
            scheduler=p["scheduler"],
            seed=job.seed,
            batch_count=p["batch_count"],
            clip_skip=p["clip_skip"],
            output_dir=str(self._outputs.job_dir(job.id)),
            preview_method=p.get("preview", "none"),
            preview_interval=p.get("preview_interval", 1),
            infotext_fields=infotext_fields(p, checkpoint.path),
        )
        return apply_mode(command, job, self._files)

    def default_context(self, model_path: str) -> EngineContext:
        """The context a request with no engine options builds for this checkpoint: what an explicit
        load (POST /api/models/{id}/load) loads, so the next plain job needs no reload."""
        return EngineContext(
            model_path=model_path, n_threads=self._settings.n_threads, lora_model_dir=self._default_lora_dir()
        )

    def _default_lora_dir(self) -> str:
        folder = self._files.folder(COMPONENT_FOLDERS["lora_model_dir"])
        return str(folder) if folder.is_dir() else ""

    @staticmethod
    def _embedding_files(folder: str) -> tuple[str, ...]:
        if not folder:
            return ()
        return tuple(
            str(path)
            for path in sorted(Path(folder).iterdir())
            if path.is_file() and path.suffix.lower() in _EMBEDDING_EXTENSIONS
        )

    # --- read ---
    def _historic_step_seconds(self, job: JobRecord) -> float | None:
        """Seconds per step of recent jobs of the same model: same size if any, else scaled by pixels
        (sampling cost grows about linearly with the latent's pixel count)."""
        if not job.model_name:
            return None
        now = time.monotonic()
        cached = self._history_cache.get(job.model_name)
        if cached is None or now - cached[0] > HISTORY_CACHE_SECONDS:
            cached = (now, self._store.recent_completed(job.model_name, HISTORY_JOBS))
            self._history_cache[job.model_name] = cached
        history = cached[1]
        if not history:
            return None
        width, height = job.params.get("width", 0), job.params.get("height", 0)
        same_size = [
            h.step_seconds for h in history if (h.params["width"], h.params["height"]) == (width, height)
        ]
        if same_size:
            return statistics.median(s for s in same_size if s)
        scaled = [
            h.step_seconds * (width * height) / (h.params["width"] * h.params["height"])
            for h in history
            if h.step_seconds
        ]
        return statistics.median(scaled) if scaled else None

    def to_public(self, job: JobRecord, positions: dict[str, int]) -> JobPublic:
        now = time.time()
        started = job.started_at
        ended = job.finished_at
        elapsed_ms = int(((ended or now) - started) * 1000) if started else 0
        progress = job.current_step / job.total_steps if job.total_steps else 0.0
        if job.status == JobStatus.COMPLETED:
            progress = 1.0
        speed = 1.0 / job.step_seconds if job.step_seconds else None
        remaining: int | None = None
        if job.is_final:
            remaining = 0
        else:
            # This job's own step times once it has some; before that, recent jobs of its model.
            step_seconds = job.step_seconds or self._historic_step_seconds(job)
            if step_seconds:
                remaining = int(max(job.total_steps - job.current_step, 0) * step_seconds * 1000)
        outputs = [
            JobOutput(
                filename=name,
                url=f"/api/queue/job/{job.id}/output/{name}",
                thumbnail_url=f"/api/v1/jobs/{job.id}/output/{name}?thumb=true",
            )
            for name in job.outputs
        ]
        return JobPublic(
            id=job.id,
            status=job.status.value,
            mode=job.mode,
            prompt=job.prompt,
            model_name=job.model_name,
            seed=job.seed,
            queued_time=int(job.queued_at),
            start_time=int(started) if started else None,
            end_time=int(ended) if ended else None,
            position=positions.get(job.id, 0),
            progress=round(progress, 4),
            phase=job.phase if job.status == JobStatus.PROCESSING else None,
            current_step=job.current_step,
            total_steps=job.total_steps,
            time_elapsed=elapsed_ms,
            time_remaining=remaining,
            speed=round(speed, 4) if speed else None,
            attempts=job.attempts,
            parameters=job.params,
            outputs=outputs,
            error=job.error,
            error_code=job.error_code,
        )


def infotext_fields(params: dict[str, Any], model_path: Path) -> dict[str, Any]:
    """The `Key: value` part of the PNG parameters text (the seed is filled per image by the worker)."""
    clip_skip = params["clip_skip"]
    return {
        "Steps": params["steps"],
        "Sampler": SAMPLER_DISPLAY_NAMES.get(params["sampling_method"], params["sampling_method"]),
        "Schedule type": params["scheduler"],
        "CFG scale": params["cfg_scale"],
        "Seed": params["seed"],
        "Size": f"{params['width']}x{params['height']}",
        "Model": model_path.stem,
        "Clip skip": clip_skip if clip_skip > 1 else None,
        "VAE": Path(params["vae_path"]).name if params.get("vae_path") else None,
        "Version": "sdcpp-rest",
    }
