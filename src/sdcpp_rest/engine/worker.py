"""The engine worker process: receives one command at a time, runs it, reports back over its pipe.

Started by the supervisor with the `spawn` method, so the child holds no copy of the API process's
threads, sockets or database connections. The native engine is imported here and nowhere in the API
process.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from PIL import Image

from sdcpp_rest.engine.protocol import (
    CommandFailed,
    ConvertCommand,
    GenerateCommand,
    JobFinished,
    JobTimings,
    LoadCommand,
    ModelLoaded,
    ModelUnloaded,
    PhaseChanged,
    PreviewImage,
    ShutdownCommand,
    StepProgress,
    UnloadCommand,
    WorkerMessage,
    WorkerReady,
)
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.monitoring.procfs import reset_peak_rss, status_bytes
from sdcpp_rest.outputs.files import output_filename, write_png_atomically
from sdcpp_rest.outputs.infotext import format_infotext
from sdcpp_rest.outputs.video import write_video

VIDEO_MODES = ("txt2vid", "img2vid")

log = logging.getLogger("sdcpp_rest.worker")

_PR_SET_PDEATHSIG = 1
PREVIEW_MAX_EDGE = 256
PREVIEW_JPEG_QUALITY = 70


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the API process dies (kill -9 included), so an orphaned
    worker never keeps generating for a job the restarted server has requeued."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the worker still exits when its pipe closes
        pass


class _Worker:
    def __init__(self, conn: Connection, verbose: bool) -> None:
        self._conn = conn
        from sdcpp_rest.engine.sd_engine import Engine  # the native engine loads in this process only

        self._engine = Engine(emit_log=self._send, verbose=verbose)
        self._load_seconds = 0.0  # of the last load, reported in the job's timings

    def _send(self, message: WorkerMessage) -> None:
        self._conn.send(message)

    def run(self) -> None:
        from sdcpp_rest.engine.sd_engine import system_info

        self._send(WorkerReady(pid=os.getpid(), system_info=system_info()))
        while True:
            try:
                command = self._conn.recv()
            except EOFError:  # the API process went away
                return
            if isinstance(command, ShutdownCommand):
                self._engine.unload()
                return
            if isinstance(command, GenerateCommand):
                self._generate(command)
            elif isinstance(command, LoadCommand):
                self._load(command, job_id=None)
            elif isinstance(command, UnloadCommand):
                self._engine.unload()
                self._send(ModelUnloaded())
            elif isinstance(command, ConvertCommand):
                self._convert(command)

    def _convert(self, command: ConvertCommand) -> None:
        """Issue 16: a GGUF through the binding's convert(); the part file becomes the model's file
        only when the engine reports success."""
        self._send(PhaseChanged(job_id=command.job_id, phase="converting"))
        started = time.perf_counter()

        def on_progress(step: int, steps: int, seconds: float) -> None:
            if steps > 0:
                self._send(StepProgress(command.job_id, step, steps, float(seconds), time.time()))

        part = Path(command.output_path)
        try:
            self._engine.convert(command.input_path, command.output_path, command.wtype, on_progress)
            os.link(part, command.final_path)  # not rename: that would replace a file that appeared
            part.unlink()
        except (ValueError, RuntimeError, OSError) as exc:
            part.unlink(missing_ok=True)
            self._send(
                CommandFailed(job_id=command.job_id, code=ErrorCode.GENERATION_FAILED, message=str(exc))
            )
            return
        self._send(JobFinished(command.job_id, [], time.perf_counter() - started))

    def _load(self, command: LoadCommand, job_id: str | None) -> bool:
        from sdcpp_rest.engine.sd_engine import EngineLoadError

        if self._engine.context != command.context:
            self._send(PhaseChanged(job_id=job_id, phase="loading"))
        try:
            seconds = self._engine.load(command.context)
        except EngineLoadError as exc:
            self._send(CommandFailed(job_id=job_id, code=ErrorCode.MODEL_LOAD_FAILED, message=str(exc)))
            return False
        self._load_seconds = seconds or 0.0
        if seconds:
            self._send(ModelLoaded(context=command.context, seconds=seconds))
        return True

    def _generate(self, command: GenerateCommand) -> None:
        reset_peak_rss()
        self._load_seconds = 0.0
        if not self._load(LoadCommand(command.context), job_id=command.job_id):
            return
        if command.mode == "upscale":
            self._upscale_only(command)
            return
        if command.mode in VIDEO_MODES:
            self._generate_video(command)
            return
        hires = command.options.hires
        progress = BatchProgress(
            command.batch_count, command.steps, (hires.steps or command.steps) if hires else 0
        )
        marks: dict[str, float] = {}  # perf_counter when sampling began and when its last step ended

        def on_step(step: int, steps: int, seconds: float) -> None:
            if step == 0:  # the engine reports step 0 as each image's pass starts sampling
                progress.start_pass(steps)
                if progress.images_started == 1:
                    marks["sampling"] = time.perf_counter()
                    self._send(PhaseChanged(job_id=command.job_id, phase="sampling"))
                return
            overall = progress.overall(step)
            self._send(StepProgress(command.job_id, overall, progress.total, float(seconds), time.time()))
            if overall >= progress.total:
                marks["decoding"] = time.perf_counter()
                self._send(PhaseChanged(job_id=command.job_id, phase="decoding"))

        self._send(PhaseChanged(job_id=command.job_id, phase="encoding"))
        started = time.perf_counter()
        try:
            images = self._engine.generate(
                prompt=command.prompt,
                negative_prompt=command.negative_prompt,
                width=command.width,
                height=command.height,
                steps=command.steps,
                cfg_scale=command.cfg_scale,
                sample_method=command.sample_method,
                scheduler=command.scheduler,
                seed=command.seed,
                batch_count=command.batch_count,
                clip_skip=command.clip_skip,
                on_step=on_step,
                preview_method=command.preview_method,
                preview_interval=command.preview_interval,
                on_preview=lambda step, frame: self._send(
                    PreviewImage(command.job_id, progress.overall(step), _preview_jpeg(frame))
                ),
                options=command.options,
                sampling=command.sampling,
            )
        except (ValueError, RuntimeError) as exc:
            self._send(
                CommandFailed(job_id=command.job_id, code=ErrorCode.GENERATION_FAILED, message=str(exc))
            )
            return
        ended = time.perf_counter()
        generate_seconds = ended - started
        if not images:
            self._send(
                CommandFailed(command.job_id, ErrorCode.GENERATION_FAILED, "the engine returned no image")
            )
            return
        self._send(PhaseChanged(job_id=command.job_id, phase="saving"))
        job_dir = Path(command.output_dir)
        files: list[str] = []
        for index, image in enumerate(images):
            fields = dict(command.infotext_fields)
            fields["Seed"] = command.seed + index
            infotext = format_infotext(command.prompt, command.negative_prompt, fields)
            name = output_filename(index)
            image = self._finish_image(image, command)
            write_png_atomically(image.convert("RGB"), job_dir / name, infotext)
            files.append(name)
        sampling_at, decoding_at = marks.get("sampling", started), marks.get("decoding", ended)
        timings = JobTimings(
            load_seconds=self._load_seconds,
            encode_seconds=sampling_at - started,
            sampling_seconds=decoding_at - sampling_at,
            decode_seconds=ended - decoding_at,
            peak_memory_bytes=status_bytes("VmHWM"),
        )
        self._send(JobFinished(command.job_id, files, generate_seconds, timings))

    def _finish_image(self, image: Image.Image, command: GenerateCommand) -> Image.Image:
        """Crop to the size asked for (the hires pass's when there is one), then run the optional
        ESRGAN upscale as the last step."""
        hires = command.options.hires
        width, height = (hires.width, hires.height) if hires else (command.width, command.height)
        image = _crop_to_requested(image, width, height)
        if command.options.upscale_repeats:
            self._send(PhaseChanged(job_id=command.job_id, phase="saving"))
            image = self._engine.upscale([image], command.options.upscale_repeats, lambda *_: None)[0]
        return image

    def _generate_video(self, command: GenerateCommand) -> None:
        """txt2vid / img2vid: one generate_video call; progress per sampling step as for images."""

        def on_step(step: int, steps: int, seconds: float) -> None:
            if step == 0:
                self._send(PhaseChanged(job_id=command.job_id, phase="sampling"))
                return
            self._send(StepProgress(command.job_id, step, steps, float(seconds), time.time()))
            if step >= steps:
                self._send(PhaseChanged(job_id=command.job_id, phase="decoding"))

        self._send(PhaseChanged(job_id=command.job_id, phase="encoding"))
        started = time.perf_counter()
        try:
            frames = self._engine.generate_video(
                prompt=command.prompt,
                negative_prompt=command.negative_prompt,
                width=command.width,
                height=command.height,
                steps=command.steps,
                cfg_scale=command.cfg_scale,
                sample_method=command.sample_method,
                scheduler=command.scheduler,
                seed=command.seed,
                frames=command.video_frames,
                on_step=on_step,
                init_image_path=command.options.init_image_path,
                sampling=command.sampling,
            )
        except (ValueError, RuntimeError) as exc:
            self._send(CommandFailed(command.job_id, ErrorCode.GENERATION_FAILED, str(exc)))
            return
        if not frames:
            self._send(
                CommandFailed(command.job_id, ErrorCode.GENERATION_FAILED, "the engine returned no frame")
            )
            return
        self._send(PhaseChanged(job_id=command.job_id, phase="saving"))
        fields = {**command.infotext_fields, "Seed": command.seed}
        infotext = format_infotext(command.prompt, command.negative_prompt, fields)
        files = write_video(Path(command.output_dir), frames, command.fps, infotext)
        self._send(JobFinished(command.job_id, files, time.perf_counter() - started))

    def _upscale_only(self, command: GenerateCommand) -> None:
        """Upscale mode: no checkpoint, one ESRGAN model, the request's image read from the job folder."""
        self._send(PhaseChanged(job_id=command.job_id, phase="sampling"))
        started = time.perf_counter()
        try:
            with Image.open(command.options.init_image_path) as source:
                image = source.convert("RGB")
            result = self._engine.upscale([image], command.options.upscale_repeats, lambda *_: None)[0]
        except (ValueError, RuntimeError, OSError) as exc:
            self._send(
                CommandFailed(job_id=command.job_id, code=ErrorCode.GENERATION_FAILED, message=str(exc))
            )
            return
        self._send(PhaseChanged(job_id=command.job_id, phase="saving"))
        name = output_filename(0)
        infotext = format_infotext("", "", command.infotext_fields)
        write_png_atomically(result.convert("RGB"), Path(command.output_dir) / name, infotext)
        self._send(JobFinished(command.job_id, [name], time.perf_counter() - started))


class BatchProgress:
    """Steps across the whole job from the engine's per-image callbacks.

    The engine samples every image of the batch, then (hires fix) every image's second pass, and
    reports step 0 as each pass starts, with the number of steps it will really run: img2img runs
    about steps x strength, a hires pass its own count. So the planned total is corrected as each
    pass starts, and progress ends at exactly the total when the last pass ends.
    """

    def __init__(self, batch_count: int, steps: int, hires_steps: int) -> None:
        self.batch_count = batch_count
        self.pass_steps = [steps, hires_steps] if hires_steps else [steps]
        self.images_started = 0
        self._finished_steps = 0  # steps of the passes already ended
        self._current_steps = 0  # steps of the pass running now

    @property
    def total(self) -> int:
        return sum(self.pass_steps) * self.batch_count

    def start_pass(self, steps: int) -> None:
        self._finished_steps += self._current_steps
        sampling_pass = min(self.images_started // self.batch_count, len(self.pass_steps) - 1)
        self.pass_steps[sampling_pass] = steps
        self.images_started += 1
        self._current_steps = steps

    def overall(self, step: int) -> int:
        return min(self._finished_steps + step, self.total)


def _preview_jpeg(frame: Image.Image) -> bytes:
    """Previews travel in WebSocket messages: keep them small."""
    frame = frame.convert("RGB")
    frame.thumbnail((PREVIEW_MAX_EDGE, PREVIEW_MAX_EDGE))
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=PREVIEW_JPEG_QUALITY)
    return buffer.getvalue()


def _crop_to_requested(image: Image.Image, width: int, height: int) -> Image.Image:
    """The engine aligns sizes up to its model's multiple (64 for SD1.x: 64x72 is made as 64x128);
    a centred crop gives the user the size they asked for without distorting the picture."""
    if image.size == (width, height) or image.width < width or image.height < height:
        return image
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def worker_main(conn: Connection, verbose: bool) -> None:
    """Entry point of the child process."""
    _die_with_parent()
    # Ctrl-C in a terminal reaches the whole process group; the supervisor decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Likewise SIGTERM sent to the whole group (systemd, docker stop): the API process lets the running
    # job finish within restart_grace_seconds, then stops the worker itself (and PDEATHSIG covers a crash).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr)
    if not verbose:
        # The engine printf()s its "System Info" banner to stdout at every generation; everything worth
        # keeping reaches the API process through the log callback, so native stdout is dropped.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    try:
        _Worker(conn, verbose).run()
    except (BrokenPipeError, EOFError):
        pass
