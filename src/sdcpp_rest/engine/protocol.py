"""Messages between the API process and an engine worker process (pickled over a multiprocessing pipe)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sdcpp_rest.errors import ErrorCode

# An absolute path inside an engine message: everything up to the last slash.
_ABSOLUTE_FOLDER = re.compile(r"(?<![\w.])/(?:[^\s/'\"|;,:]+/)+")


# A quoted absolute path may hold spaces: strip up to the last slash inside the quotes.
_QUOTED_FOLDER = re.compile(r"(?<=')/[^']*/")


def hide_server_folders(text: str) -> str:
    """Engine messages name files by absolute path; clients see the file names only."""
    return _ABSOLUTE_FOLDER.sub("", _QUOTED_FOLDER.sub("", text))


# --- context: what building an engine context needs; a change of any field means a reload ---


@dataclass(frozen=True)
class JobTimings:
    """Where a finished job's time went, measured in the worker; estimates are built from these."""

    load_seconds: float  # 0 when the model was already loaded
    encode_seconds: float  # prompt encoding, before the first step
    sampling_seconds: float
    decode_seconds: float  # after the last step until the images are out of the engine
    peak_memory_bytes: int | None = None  # the worker's peak resident memory during the job


@dataclass(frozen=True)
class EngineContext:
    model_path: str
    n_threads: int = -1
    offload_params_to_cpu: bool = False
    keep_clip_on_cpu: bool = False
    keep_vae_on_cpu: bool = False
    diffusion_flash_attn: bool = False
    lora_apply_mode: str = "auto"  # auto, immediately, at_runtime (the binding's names)
    diffusion_conv_direct: bool = False
    vae_conv_direct: bool = False
    vae_path: str = ""
    clip_l_path: str = ""
    clip_g_path: str = ""
    taesd_path: str = ""
    lora_model_dir: str = ""
    embedding_paths: tuple[str, ...] = ()
    control_net_path: str = ""
    upscaler_path: str = ""  # ESRGAN; with an empty model_path the context is an upscaler only
    upscale_tile_size: int = 128
    # The parts of a model shipped as separate files (Flux, SD3, Wan, ...); with a diffusion model,
    # model_path may be empty.
    diffusion_model_path: str = ""
    high_noise_diffusion_model_path: str = ""
    t5xxl_path: str = ""
    llm_path: str = ""
    llm_vision_path: str = ""
    clip_vision_path: str = ""
    wtype: str = "default"  # convert weights at load (q8_0, q4_0 ...)
    prediction: str = "default"
    enable_mmap: bool = False
    max_vram: float = 0.0


@dataclass(frozen=True)
class HiresPass:
    """Hires fix: the engine's second sampling pass at width x height."""

    width: int
    height: int
    steps: int
    denoising_strength: float
    upscaler: str  # an engine hires upscaler name ("latent", "lanczos", ...) or "model"
    model_path: str = ""  # the ESRGAN file when upscaler == "model"


@dataclass(frozen=True)
class ModeOptions:
    """What img2img, inpainting, ControlNet, hires fix and upscaling add to a generation. Images are
    PNG files the API process wrote into the job's inputs folder: paths, not pixels, cross the pipe."""

    init_image_path: str = ""
    mask_image_path: str = ""
    control_image_path: str = ""
    strength: float = 0.75
    control_strength: float = 0.9
    canny: bool = False
    vae_tiling: bool = False
    hires: HiresPass | None = None
    upscale_repeats: int = 0  # ESRGAN runs after generation (or the whole job in upscale mode)


@dataclass(frozen=True)
class SamplingOptions:
    """The family parameters of a generation (Flux guidance, flow shift, skip-layer guidance, step
    caching ...). None leaves the engine's own default."""

    guidance: float | None = None
    flow_shift: float | None = None
    image_cfg_scale: float | None = None
    slg_scale: float = 0.0
    skip_layers: tuple[int, ...] | None = None
    skip_layer_start: float = 0.01
    skip_layer_end: float = 0.2
    eta: float | None = None
    sigmas: tuple[float, ...] | None = None
    cache_mode: str = "disabled"  # the engine's name: disabled, ucache, easycache, cachedit, ...
    cache_threshold: float | None = None
    cache_start_percent: float | None = None
    cache_end_percent: float | None = None
    ref_image_paths: tuple[str, ...] = ()  # PNG files the API process wrote into the job's inputs


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
    mode: str = "text2img"  # text2img, img2img, inpainting, controlnet or upscale
    options: ModeOptions = field(default_factory=ModeOptions)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    video_frames: int = 0  # txt2vid / img2vid: frames of the video
    fps: int = 0


@dataclass(frozen=True)
class LoadCommand:
    context: EngineContext


@dataclass(frozen=True)
class UnloadCommand:
    pass


@dataclass(frozen=True)
class ShutdownCommand:
    pass


@dataclass(frozen=True)
class ConvertCommand:
    """Issue 16: write `input_path` as a GGUF of weight type `wtype` to `output_path` (a part file the
    worker renames to `final_path` when the engine reports success)."""

    job_id: str
    input_path: str
    output_path: str
    final_path: str
    wtype: str


WorkerCommand = GenerateCommand | LoadCommand | UnloadCommand | ShutdownCommand | ConvertCommand

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
    timings: JobTimings | None = None


@dataclass(frozen=True)
class CommandFailed:
    """A command failed inside a healthy worker (bad model file that did not crash, bad argument)."""

    job_id: str | None
    code: ErrorCode  # MODEL_LOAD_FAILED or GENERATION_FAILED
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
