"""Request and response schemas (pydantic), shared by the routers and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdcpp_rest.generation_options import GenerationOptions
from sdcpp_rest.parameters import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULER,
    MAX_SEED,
    PARAMETER_RANGES,
    SAMPLERS,
    SCHEDULERS,
)

SamplerName = Literal[tuple(SAMPLERS)]  # type: ignore[valid-type]
SchedulerName = Literal[tuple(SCHEDULERS)]  # type: ignore[valid-type]
ComponentPath = str | None


def _ranged(name: str, integer: bool = True) -> Any:
    spec = PARAMETER_RANGES[name]
    kind = int if integer else float
    return Field(
        kind(spec.default), ge=kind(spec.minimum), le=kind(spec.maximum), description=spec.description
    )


class Text2ImgRequest(GenerationOptions):
    """Body of POST /api/generate/text2img. Unknown fields are refused so typos do not pass silently.
    LoRAs, TAESD, VAE tiling, hires fix and upscaling come from GenerationOptions."""

    model_config = ConfigDict(extra="forbid")

    model_name: str | None = Field(
        None,
        max_length=1024,
        description="Checkpoint name (relative to models/checkpoints); "
        "default: the configured default_model, the loaded model, or the only checkpoint.",
    )
    prompt: str = Field(..., max_length=20000, description="What to draw.")
    negative_prompt: str = Field("", max_length=20000, description="What to avoid.")
    width: int = _ranged("width")
    height: int = _ranged("height")
    steps: int = _ranged("steps")
    cfg_scale: float = _ranged("cfg_scale", integer=False)
    sampling_method: SamplerName = Field(DEFAULT_SAMPLER, description="Sampler (see /api/samplers).")
    scheduler: SchedulerName = Field(DEFAULT_SCHEDULER, description="Scheduler (see /api/schedulers).")
    seed: int | Literal["random"] = Field(
        "random",
        description=f"'random' (or -1) for a fresh seed, else 0..{MAX_SEED}; the seed used is "
        "returned with the job. Batch images use seed, seed+1, ...",
    )
    batch_count: int = _ranged("batch_count")
    clip_skip: int = _ranged("clip_skip")
    preview: Literal["none", "proj", "tae", "vae"] = Field(
        "none",
        description="Live previews in WebSocket job_update messages (`data.preview`: step, mime_type, "
        "base64 JPEG of at most 256 px): proj = fast latent projection, tae = TAESD (needs taesd_path), "
        "vae = full VAE decode (slow).",
    )
    preview_interval: int = Field(1, ge=1, le=150, description="Steps between previews.")
    n_threads: int | None = Field(
        None, ge=-1, le=1024, description="Engine threads (default: the server's n_threads setting)."
    )
    offload_params_to_cpu: bool = Field(False, description="Keep weights in RAM, move to the GPU per use.")
    clip_on_cpu: bool = Field(False, description="Run the text encoder on the CPU.")
    vae_on_cpu: bool = Field(False, description="Run the VAE on the CPU.")
    diffusion_flash_attn: bool = Field(False, description="Flash attention in the diffusion model.")
    diffusion_conv_direct: bool = Field(False, description="Direct convolution in the diffusion model.")
    vae_conv_direct: bool = Field(False, description="Direct convolution in the VAE.")
    vae_path: ComponentPath = Field(None, max_length=1024, description="VAE file inside models/vae.")
    clip_l_path: ComponentPath = Field(None, max_length=1024, description="CLIP-L file inside models/clip.")
    clip_g_path: ComponentPath = Field(None, max_length=1024, description="CLIP-G file inside models/clip.")
    taesd_path: ComponentPath = Field(None, max_length=1024, description="TAESD file inside models/taesd.")
    embedding_dir: ComponentPath = Field(
        None, max_length=1024, description="Folder inside models/embeddings whose files are the embeddings."
    )
    lora_model_dir: ComponentPath = Field(
        None,
        max_length=1024,
        description="Folder inside models/lora for <lora:NAME:W> (default: models/lora).",
    )

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        step = int(PARAMETER_RANGES["width"].step)
        if value % step:
            raise ValueError(f"must be a multiple of {step}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value != -1 and not 0 <= value <= MAX_SEED:
            raise ValueError(f"must be 'random', -1 or an integer from 0 to {MAX_SEED}")
        return value

    def planned_total_steps(self) -> int:
        """Sampling steps of the whole job as asked; the worker corrects it when the engine starts
        each pass (img2img runs fewer, a hires pass its own count)."""
        hires_steps = self.hires.pass_steps(self.steps) if self.hires else 0
        return (self.steps + hires_steps) * self.batch_count


class QueuedReply(BaseModel):
    request_id: str = Field(description="The job id (use it with /api/queue/job/{jobId}).")
    job_id: str
    status: str
    message: str
    position: int
    seed: int


class JobOutput(BaseModel):
    filename: str
    url: str
    thumbnail_url: str


class JobPublic(BaseModel):
    id: str
    status: str
    mode: str
    prompt: str
    model_name: str | None
    seed: int
    queued_time: int = Field(description="Unix seconds.")
    start_time: int | None
    end_time: int | None
    position: int = Field(description="Place in the line (1 = next); 0 once started.")
    progress: float = Field(description="0..1")
    phase: str | None = Field(description="loading, encoding, sampling, decoding, saving while processing.")
    current_step: int
    total_steps: int
    time_elapsed: int = Field(description="Milliseconds since the job started.")
    time_remaining: int | None = Field(description="Milliseconds, estimated from this job's step times.")
    speed: float | None = Field(description="Sampling steps per second.")
    attempts: int
    parameters: dict[str, Any]
    outputs: list[JobOutput]
    error: str | None
    error_code: str | None


class QueueBody(BaseModel):
    size: int = Field(description="Jobs waiting.")
    active_generations: int
    running: bool
    jobs: list[JobPublic]


class QueueStatusReply(BaseModel):
    queue: QueueBody


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(..., max_length=64)


class StatusReply(BaseModel):
    status: str
    message: str
    job_id: str | None = None
    cleared: int | None = None


class ValidationIssue(BaseModel):
    field: str
    message: str
    code: str


class ValidateReply(BaseModel):
    valid: bool
    errors: list[ValidationIssue]
    warnings: list[str]
    normalized: dict[str, Any] | None = Field(description="The request with every default filled in.")
