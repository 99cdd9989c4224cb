"""The one table of generation parameter ranges and the sampler/scheduler vocabularies.

`/api/parameters`, `/api/validate`, request validation and the OpenAPI schema are all built from
this table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class NumericRange:
    minimum: float
    maximum: float
    default: float
    step: float
    description: str

    def as_public(self) -> dict[str, float]:
        return {"min": self.minimum, "max": self.maximum, "default": self.default, "step": self.step}


PARAMETER_RANGES: dict[str, NumericRange] = {
    "width": NumericRange(64, 4096, 1024, 8, "Image width in pixels, a multiple of 8."),
    "height": NumericRange(64, 4096, 1024, 8, "Image height in pixels, a multiple of 8."),
    "steps": NumericRange(1, 150, 20, 1, "Sampling steps."),
    "cfg_scale": NumericRange(1.0, 30.0, 7.0, 0.1, "Classifier-free guidance scale."),
    "batch_count": NumericRange(1, 50, 1, 1, "Images made by the job (seeds seed, seed+1, ...)."),
    "clip_skip": NumericRange(
        -1, 12, -1, 1, "CLIP layers to skip; -1 or 0 lets the engine pick the model's default."
    ),
    # --- image-to-image, inpainting, ControlNet, upscaling, LoRA, hires fix (see modes.py) ---
    "strength": NumericRange(
        0.0, 1.0, 0.75, 0.01, "Denoising strength: 0 keeps the init image, 1 replaces it entirely."
    ),
    "mask_blur": NumericRange(0, 64, 4, 1, "Gaussian blur radius (pixels) applied to the mask's edges."),
    "control_strength": NumericRange(0.0, 2.0, 0.9, 0.05, "How strongly the ControlNet steers the image."),
    "upscale_factor": NumericRange(
        1, 4, 1, 1, "Times the ESRGAN upscaler runs (each run multiplies the size by the model's scale)."
    ),
    "upscale_tile_size": NumericRange(
        64, 1024, 128, 8, "Tile edge (pixels) the upscaler works on; smaller tiles use less memory."
    ),
    "lora_weight": NumericRange(-4.0, 4.0, 1.0, 0.05, "LoRA multiplier."),
    "hires_scale": NumericRange(1.0, 4.0, 2.0, 0.05, "Hires fix: size multiplier of the second pass."),
    "hires_steps": NumericRange(0, 150, 0, 1, "Hires fix: steps of the second pass (0 = same as steps)."),
    "hires_denoising_strength": NumericRange(
        0.0, 1.0, 0.7, 0.01, "Hires fix: denoising strength of the second pass."
    ),
    # --- family parameters (issue 13; which families take each: schemas/family.py) ---
    "guidance": NumericRange(0.0, 100.0, 3.5, 0.1, "Distilled guidance of guidance-distilled models."),
    "flow_shift": NumericRange(0.0, 100.0, 3.0, 0.1, "Shift of the flow models' sigma schedule."),
    "image_cfg_scale": NumericRange(
        0.0, 30.0, 1.5, 0.1, "Guidance towards the input image (instruct-pix2pix, image edit models)."
    ),
    "slg_scale": NumericRange(0.0, 10.0, 0.0, 0.1, "Skip-layer guidance scale (0 = off)."),
    "skip_layer_start": NumericRange(0.0, 1.0, 0.01, 0.01, "Skip-layer guidance starts at this fraction."),
    "skip_layer_end": NumericRange(0.0, 1.0, 0.2, 0.01, "Skip-layer guidance ends at this fraction."),
    "eta": NumericRange(0.0, 10.0, 0.0, 0.01, "Noise of the stochastic samplers (DDIM, TCD, er_sde ...)."),
    "max_vram": NumericRange(0.0, 4096.0, 0.0, 0.5, "GiB of device memory the engine may use (0 = all)."),
    "cache_threshold": NumericRange(
        0.0,
        10.0,
        1.0,
        0.01,
        "Step caching: reuse threshold (ucache, easycache) or residual "
        "difference threshold (dbcache, taylorseer, cache_dit); higher skips more steps.",
    ),
    "cache_start_percent": NumericRange(0.0, 1.0, 0.15, 0.01, "Step caching starts at this fraction."),
    "cache_end_percent": NumericRange(0.0, 1.0, 0.95, 0.01, "Step caching ends at this fraction."),
    # --- video (schemas/video.py) ---
    "video_frames": NumericRange(1, 161, 33, 1, "Frames of the video (Wan: 4k + 1 frames fit best)."),
    "fps": NumericRange(1, 60, 16, 1, "Frames per second of the animated WebP."),
}

RESIZE_MODES: tuple[str, ...] = ("resize", "crop", "fill")
# Hires-fix upscalers the engine has besides an ESRGAN model from the esrgan folder.
HIRES_LATENT_UPSCALERS: tuple[str, ...] = (
    "latent",
    "latent_nearest",
    "latent_nearest_exact",
    "latent_antialiased",
    "latent_bicubic",
    "latent_bicubic_antialiased",
    "lanczos",
    "nearest",
)

# The API's sampler names (the spec's list plus what the engine also has) -> the engine's names.
SAMPLERS: dict[str, str] = {
    "euler": "euler",
    "euler_a": "euler_a",
    "heun": "heun",
    "dpm2": "dpm2",
    "dpmpp2s_a": "dpm++2s_a",
    "dpmpp2m": "dpm++2m",
    "dpmpp2mv2": "dpm++2mv2",
    "ipndm": "ipndm",
    "ipndm_v": "ipndm_v",
    "lcm": "lcm",
    "ddim_trailing": "ddim_trailing",
    "tcd": "tcd",
    "res_multistep": "res_multistep",
    "res_2s": "res_2s",
    "er_sde": "er_sde",
}

# Names A1111-style infotext uses, so other tools read our PNG metadata.
SAMPLER_DISPLAY_NAMES: dict[str, str] = {
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpm2": "DPM2",
    "dpmpp2s_a": "DPM++ 2S a",
    "dpmpp2m": "DPM++ 2M",
    "dpmpp2mv2": "DPM++ 2M v2",
    "ipndm": "iPNDM",
    "ipndm_v": "iPNDM_v",
    "lcm": "LCM",
    "ddim_trailing": "DDIM trailing",
    "tcd": "TCD",
    "res_multistep": "Res multistep",
    "res_2s": "Res 2s",
    "er_sde": "ER SDE",
}

SCHEDULERS: tuple[str, ...] = (
    "discrete",
    "karras",
    "exponential",
    "ays",
    "gits",
    "smoothstep",
    "sgm_uniform",
    "simple",
    "kl_optimal",
    "lcm",
    "bong_tangent",
)

DEFAULT_SAMPLER = "euler_a"
# How the engine applies LoRAs (its own default is auto: at_runtime on quantized weights, else immediately).
LoraApplyModeName = Literal["auto", "immediately", "at_runtime"]
DEFAULT_SCHEDULER = "discrete"

# Real 32-bit seeds: the binding's own "random" picks only among 10,001 values.
MAX_SEED = 2**32 - 1

# Request fields that change the engine context (a new one must be built to change them).
CONTEXT_FIELDS: tuple[str, ...] = (
    "n_threads",
    "offload_params_to_cpu",
    "clip_on_cpu",
    "vae_on_cpu",
    "diffusion_flash_attn",
    "lora_apply_mode",
    "diffusion_conv_direct",
    "vae_conv_direct",
    "vae_path",
    "clip_l_path",
    "clip_g_path",
    "taesd_path",
    "embedding_dir",
    "lora_model_dir",
    "control_net",
    "upscaler",
    "upscale_tile_size",
    # issue 13: the parts of split models and the family options of the context
    "diffusion_model_path",
    "high_noise_diffusion_model_path",
    "t5xxl_path",
    "llm_path",
    "llm_vision_path",
    "clip_vision_path",
    "prediction",
    "wtype",
    "enable_mmap",
    "max_vram",
)

# The longest prompt (and negative prompt) in UTF-8 bytes. stable-diffusion.cpp parses prompts with
# std::regex, whose matcher recurses once per byte of a run of text: on the usual 8 MiB stack the engine
# worker dies with SIGSEGV from about 26,000 bytes of one run (measured with bench/bench_prompt_limit.py:
# 25,808 bytes worked, 26,154 crashed, for ASCII, "é" and emoji alike; issue 27). Bytes, not characters:
# 20,000 "é" are 40,000 bytes. A margin of about 1.6 under the crash.
MAX_PROMPT_BYTES = 16384


def prompt_size_error(text: str) -> str | None:
    """Why a prompt is too long for the engine, or None when it fits."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size <= MAX_PROMPT_BYTES:
        return None
    return f"must be at most {MAX_PROMPT_BYTES} bytes of UTF-8 text (this one is {size} bytes)"
