"""The only module that imports stable_diffusion_cpp. Runs inside an engine worker process only.

It turns the binding's quirks (see ENGINE_NOTES.md) into a small, safe surface: a load that reports
why it failed, a progress callback passed on every call, real random seeds chosen by the caller.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import stable_diffusion_cpp as sd_binding
from stable_diffusion_cpp import stable_diffusion_cpp as sd_native

from sdcpp_rest.engine.protocol import EngineContext, EngineLog, ModeOptions, SamplingOptions

# sd_log_level_t: SD_LOG_DEBUG = 0, SD_LOG_INFO = 1, SD_LOG_WARN = 2, SD_LOG_ERROR = 3
_LEVEL_NAMES = {0: "debug", 1: "info", 2: "warning", 3: "error"}
# Lines kept to explain a failed load (the engine logs the reason, then returns NULL or raises).
_RECENT_ERROR_LINES = 8


class EngineLoadError(Exception):
    """The engine refused a model file; the message carries the engine's own reason."""


class _StableDiffusionWithEmbeddings(sd_binding.StableDiffusion):
    """Works around 0.4.7 reading `self._embedding_items` before ever setting it (ENGINE_NOTES.md)."""

    def __init__(self, **kwargs: Any) -> None:
        self._embedding_items = [
            sd_native.sd_embedding_t(name=Path(p).stem.encode(), path=str(p).encode())
            for p in kwargs.get("embedding_paths", [])
        ]
        super().__init__(**kwargs)


class _Converter(sd_binding.StableDiffusion):
    """The binding's convert() with no model loaded (issue 16): the method uses only `verbose` and the
    class's input helpers, so __init__ (which loads a model) is skipped."""

    def __init__(self, verbose: bool) -> None:  # no super().__init__(): see above
        self.verbose = verbose
        self._stack = contextlib.ExitStack()  # what close() (on __del__) expects


def system_info() -> str:
    return str(sd_native.sd_get_system_info().decode(errors="replace")).strip()


class Engine:
    """One stable-diffusion.cpp context at a time, kept between generations."""

    def __init__(self, emit_log: Callable[[EngineLog], None], verbose: bool) -> None:
        self._emit_log = emit_log
        self._verbose = verbose
        self._recent_errors: deque[str] = deque(maxlen=_RECENT_ERROR_LINES)
        self._sd: sd_binding.StableDiffusion | None = None
        self.context: EngineContext | None = None
        # Keep a reference: ctypes would free the trampoline while the engine still calls it.
        self._log_callback = sd_native.sd_log_callback(self._on_native_log)
        sd_native.sd_set_log_callback(self._log_callback, ctypes.c_void_p(0))
        # The engine also reports progress while loading tensors. The binding leaves its last
        # per-call callback installed after generate_image returns, freed memory by then, so a later
        # load would call into it; this long-lived one is put back after every generation.
        self._idle_progress_callback = sd_native.sd_progress_callback(self._on_idle_progress)
        self._install_idle_progress_callback()

    def _on_native_log(self, level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        name = _LEVEL_NAMES.get(level, "info")
        if level >= 2:
            self._recent_errors.append(line)
        # Info lines are forwarded too: after a native crash they are all that says what was happening.
        if level >= 1 or self._verbose:
            self._emit_log(EngineLog(level=name, text=line))

    def _install_idle_progress_callback(self) -> None:
        sd_native.sd_set_progress_callback(self._idle_progress_callback, ctypes.c_void_p(0))

    @staticmethod
    def _clear_preview_callback() -> None:
        """The binding's preview callback is process-global too, and the ctypes function it installs
        is freed when generate_image returns: left in place, the next generation without previews
        calls freed memory (seen as a SIGSEGV of the worker). NULL it after every generation."""
        sd_native.sd_set_preview_callback(
            None, int(sd_native.Preview.PREVIEW_NONE), 1, True, False, ctypes.c_void_p(0)
        )

    def _on_idle_progress(self, _step: int, _steps: int, _seconds: float, _data: ctypes.c_void_p) -> None:
        """Progress outside a generation (tensor loading): nothing to report yet."""

    def load(self, context: EngineContext) -> float:
        """Build the context for `context` unless it is already the loaded one; return seconds spent."""
        if self._sd is not None and self.context == context:
            return 0.0
        self.unload()
        self._recent_errors.clear()
        started = time.perf_counter()
        kwargs = asdict(context)
        kwargs["embedding_paths"] = list(context.embedding_paths)
        if context.n_threads <= 0:
            # The binding's own default is half the CPUs; use them all, as the engine's CLI does.
            kwargs["n_threads"] = os.cpu_count() or 1
        try:
            # verbose=True: the engine reports sampling progress only when its log level lets it.
            sd = _StableDiffusionWithEmbeddings(**kwargs, verbose=True)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineLoadError(self._load_failure_reason(context, str(exc))) from None
        upscaler_only = not (context.model_path or context.diffusion_model_path) and context.upscaler_path
        if not upscaler_only and (getattr(sd, "_model", None) is None or not sd._model.model):  # NULL
            raise EngineLoadError(self._load_failure_reason(context, "the engine returned no context"))
        if context.upscaler_path and not sd._upscaler.upscaler:
            raise EngineLoadError(self._load_failure_reason(context, "the upscaler did not load"))
        self._sd = sd
        self.context = context
        return time.perf_counter() - started

    def convert(
        self, input_path: str, output_path: str, wtype: str, on_progress: Callable[[int, int, float], None]
    ) -> None:
        """Write `input_path` as a GGUF of `wtype` (issue 16); RuntimeError with the engine's reason."""
        self._recent_errors.clear()

        def forward(step: int, steps: int, seconds: float, _data: ctypes.c_void_p) -> None:
            on_progress(step, steps, seconds)

        callback = sd_native.sd_progress_callback(forward)  # referenced until the call returns
        sd_native.sd_set_progress_callback(callback, ctypes.c_void_p(0))
        try:
            converted = _Converter(self._verbose).convert(
                input_path=input_path, output_path=output_path, output_type=wtype
            )
        finally:
            self._install_idle_progress_callback()
        if not converted:
            reasons = "; ".join(self._recent_errors) or "the engine reported a failure"
            raise RuntimeError(f"could not convert '{Path(input_path).name}' to {wtype}: {reasons}")

    def _load_failure_reason(self, context: EngineContext, fallback: str) -> str:
        reasons = "; ".join(self._recent_errors) or fallback
        # Name every file of the context: the fault may be in a component, not the checkpoint.
        files = ", ".join(f"'{Path(path).name}'" for path in _context_files(context))
        return f"could not load model {files}: {reasons}"

    @staticmethod
    def _preview_arguments(
        method: str, interval: int, on_preview: Callable[[int, Any], None] | None
    ) -> dict[str, Any]:
        if method == "none" or on_preview is None:
            return {}

        def forward(step: int, frames: list[Any], _is_noisy: bool) -> None:
            if frames:
                on_preview(step, frames[0])

        return {"preview_method": method, "preview_interval": interval, "preview_callback": forward}

    def unload(self) -> None:
        if self._sd is not None:
            self._sd._stack.close()
            self._sd = None
            self.context = None

    def generate(
        self,
        *,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        steps: int,
        cfg_scale: float,
        sample_method: str,
        scheduler: str,
        seed: int,
        batch_count: int,
        clip_skip: int,
        on_step: Callable[[int, int, float], None],
        preview_method: str = "none",
        preview_interval: int = 1,
        on_preview: Callable[[int, Any], None] | None = None,
        options: ModeOptions | None = None,
        sampling: SamplingOptions | None = None,
    ) -> list[Any]:
        """Run one generation; `on_step(step, steps, seconds)` is called after every sampling step."""
        if self._sd is None:
            raise RuntimeError("no model loaded")
        mode_arguments = _mode_arguments(options or ModeOptions())
        mode_arguments.update(sampling_arguments(sampling or SamplingOptions()))
        # Passed on every call: the binding's callback is process-global and never reset (ENGINE_NOTES.md).
        try:
            images = self._sd.generate_image(
                prompt=prompt,
                negative_prompt=negative_prompt,
                width=width,
                height=height,
                sample_steps=steps,
                cfg_scale=cfg_scale,
                sample_method=sample_method,
                scheduler=scheduler,
                seed=seed,
                batch_count=batch_count,
                clip_skip=clip_skip,
                progress_callback=on_step,
                **self._preview_arguments(preview_method, preview_interval, on_preview),
                **mode_arguments,
            )
        finally:
            self._install_idle_progress_callback()
            self._clear_preview_callback()
        return list(images)

    def generate_video(
        self,
        *,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        steps: int,
        cfg_scale: float,
        sample_method: str,
        scheduler: str,
        seed: int,
        frames: int,
        on_step: Callable[[int, int, float], None],
        init_image_path: str = "",
        sampling: SamplingOptions | None = None,
    ) -> list[Any]:
        """Run one video generation (Wan): the frames as images, `on_step` after every step."""
        if self._sd is None:
            raise RuntimeError("no model loaded")
        arguments = sampling_arguments(sampling or SamplingOptions())
        arguments.pop("ref_images", None)  # image models only
        if init_image_path:
            from PIL import Image

            arguments["init_image"] = Image.open(init_image_path).convert("RGB")
        try:
            frames_out = self._sd.generate_video(
                prompt=prompt,
                negative_prompt=negative_prompt,
                width=width,
                height=height,
                sample_steps=steps,
                cfg_scale=cfg_scale,
                sample_method=sample_method,
                scheduler=scheduler,
                seed=seed,
                video_frames=frames,
                progress_callback=on_step,
                **arguments,
            )
        finally:
            self._install_idle_progress_callback()
            self._clear_preview_callback()
        return list(frames_out)

    def upscale(
        self, images: list[Any], repeats: int, on_step: Callable[[int, int, float], None]
    ) -> list[Any]:
        """Run the context's ESRGAN model `repeats` times over each image (each run multiplies the
        size by the model's own scale; the binding's upscale_factor argument does not change it)."""
        if self._sd is None or not self.context or not self.context.upscaler_path:
            raise RuntimeError("no upscaler loaded")
        try:
            for _ in range(repeats):
                images = [
                    self._sd.upscale(image, upscale_factor=1, progress_callback=on_step)[0]
                    for image in images
                ]
        finally:
            self._install_idle_progress_callback()
        return images


def _context_files(context: EngineContext) -> list[str]:
    paths = [context.model_path, context.vae_path, context.taesd_path, context.control_net_path]
    paths += [context.upscaler_path, context.clip_l_path, context.clip_g_path, *context.embedding_paths]
    paths += [context.diffusion_model_path, context.high_noise_diffusion_model_path, context.t5xxl_path]
    paths += [context.llm_path, context.llm_vision_path, context.clip_vision_path]
    return [path for path in paths if path]


# Which threshold argument of generate_image each cache mode reads (spectrum has none of these).
_CACHE_THRESHOLD_ARGUMENT = {
    "ucache": "cache_reuse_threshold",
    "easycache": "cache_reuse_threshold",
    "dbcache": "cache_residual_diff_threshold",
    "taylorseer": "cache_residual_diff_threshold",
    "cachedit": "cache_residual_diff_threshold",
}


def sampling_arguments(sampling: SamplingOptions) -> dict[str, Any]:
    """generate_image's keyword arguments for the family parameters; unset ones keep its defaults."""
    arguments: dict[str, Any] = {"cache_mode": sampling.cache_mode, "slg_scale": sampling.slg_scale}
    optional = {
        "guidance": sampling.guidance,
        "flow_shift": sampling.flow_shift,
        "image_cfg_scale": sampling.image_cfg_scale,
        "eta": sampling.eta,
        "cache_start_percent": sampling.cache_start_percent,
        "cache_end_percent": sampling.cache_end_percent,
    }
    arguments.update({name: value for name, value in optional.items() if value is not None})
    if sampling.slg_scale:
        arguments.update(skip_layer_start=sampling.skip_layer_start, skip_layer_end=sampling.skip_layer_end)
        if sampling.skip_layers is not None:
            arguments["skip_layers"] = list(sampling.skip_layers)
    if sampling.sigmas:
        arguments["sigmas"] = ",".join(f"{sigma:g}" for sigma in sampling.sigmas)
    threshold_argument = _CACHE_THRESHOLD_ARGUMENT.get(sampling.cache_mode)
    if sampling.cache_threshold is not None and threshold_argument:
        arguments[threshold_argument] = sampling.cache_threshold
    if sampling.ref_image_paths:
        from PIL import Image

        arguments["ref_images"] = [Image.open(path).convert("RGB") for path in sampling.ref_image_paths]
    return arguments


def _mode_arguments(options: ModeOptions) -> dict[str, Any]:
    """generate_image's keyword arguments for img2img, inpainting, ControlNet, tiling and hires fix.
    Images are opened here, in the worker, from the files the API process wrote."""
    from PIL import Image

    arguments: dict[str, Any] = {"vae_tiling": options.vae_tiling}
    if options.init_image_path:
        arguments["init_image"] = Image.open(options.init_image_path).convert("RGB")
        arguments["strength"] = options.strength
    if options.mask_image_path:
        arguments["mask_image"] = Image.open(options.mask_image_path).convert("L")
    if options.control_image_path:
        arguments["control_image"] = Image.open(options.control_image_path).convert("RGB")
        arguments["control_strength"] = options.control_strength
        arguments["canny"] = options.canny
    if options.hires is not None:
        hires = options.hires
        arguments.update(
            hires=True,
            hires_upscaler=hires.upscaler,
            hires_path=hires.model_path,
            hires_width=hires.width,
            hires_height=hires.height,
            hires_steps=hires.steps,
            hires_denoising_strength=hires.denoising_strength,
        )
    return arguments
