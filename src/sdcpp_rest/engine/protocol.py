"""Messages between the API process and an engine worker process (pickled over a multiprocessing pipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- context: what building an engine context needs; a change of any field means a reload ---


@dataclass(frozen=True)
class EngineContext:
    model_path: str
    n_threads: int = -1
    offload_params_to_cpu: bool = False
    keep_clip_on_cpu: bool = False
    keep_vae_on_cpu: bool = False
    diffusion_flash_attn: bool = False
    diffusion_conv_direct: bool = False
    vae_conv_direct: bool = False
    vae_path: str = ""
    clip_l_path: str = ""
    clip_g_path: str = ""
    taesd_path: str = ""
    lora_model_dir: str = ""
    embedding_paths: tuple[str, ...] = ()


# --- API process -> worker ---


@dataclass(frozen=True)
class GenerateCommand:
    job_id: str
    context: EngineContext
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    cfg_scale: float
    sample_method: str
    scheduler: str
    seed: int
    batch_count: int
    clip_skip: int
    output_dir: str
    preview_method: str = "none"
    preview_interval: int = 1
    # Infotext fields except the per-image seed, which the worker fills in (seed, seed+1, ...).
    infotext_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadCommand:
    context: EngineContext


@dataclass(frozen=True)
class UnloadCommand:
    pass


@dataclass(frozen=True)
class ShutdownCommand:
    pass


WorkerCommand = GenerateCommand | LoadCommand | UnloadCommand | ShutdownCommand

# --- worker -> API process ---


@dataclass(frozen=True)
class WorkerReady:
    pid: int
    system_info: str


@dataclass(frozen=True)
class EngineLog:
    level: str
    text: str


@dataclass(frozen=True)
class PhaseChanged:
    job_id: str | None
    phase: str  # a JobPhase value


@dataclass(frozen=True)
class StepProgress:
    job_id: str
    step: int  # across the whole batch: image_index * steps + step
    total_steps: int
    step_seconds: float
    wall_time: float = 0.0  # time.time() in the worker when the engine reported the step


@dataclass(frozen=True)
class PreviewImage:
    """A small JPEG of the picture forming, sent every `preview_interval` steps when asked."""

    job_id: str
    step: int
    jpeg: bytes


@dataclass(frozen=True)
class ModelLoaded:
    context: EngineContext
    seconds: float


@dataclass(frozen=True)
class ModelUnloaded:
    pass


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    files: list[str]
    generate_seconds: float


@dataclass(frozen=True)
class CommandFailed:
    """A command failed inside a healthy worker (bad model file that did not crash, bad argument)."""

    job_id: str | None
    code: str
    message: str


WorkerMessage = (
    PreviewImage
    | WorkerReady
    | EngineLog
    | PhaseChanged
    | StepProgress
    | ModelLoaded
    | ModelUnloaded
    | JobFinished
    | CommandFailed
)
