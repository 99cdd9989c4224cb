"""How long a generation would take and how much memory it would need, learned from finished jobs.

Every completed job stores where its time went (JobTimings: load, encode, sampling, decode, peak
memory). For a request, the history of its model and mode gives, per pixel count:
- seconds per sampling step and decode seconds per image: the median of jobs of exactly this size
  (basis `measured`); else a fit over the sizes seen (a + b*pixels, or a power law when that line
  would need a negative part) when there are two sizes or more, or proportional to pixels from the one
  size seen (basis `scaled`);
- prompt encoding, model load and the rest (saving, messages) do not depend on the size: medians.
Before any history, DEFAULT_* figures stand in (basis `default`).
A hires-fix job adds a second pass: its steps at the per-step time of the larger size, and the
decode at that size. Finished hires jobs are left out of the per-size figures (their sampling time
mixes two sizes).

The queue wait replays the jobs ahead in FIFO order over the workers: each job goes to the worker
free first and pays a load when that worker holds another model; the new job then does the same.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdcpp_rest.catalog.files import CatalogError, ModelFiles
from sdcpp_rest.jobs.params import FileJobParams, UpscaleParams
from sdcpp_rest.jobs.records import JobPhase, JobRecord, JobStatus
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.options import HiresOptions

HISTORY_JOBS = 50  # recent completed jobs of a model read per estimate: recent enough, and cheap
# The engine pads sizes up to a multiple of 64 (SD1.x, SDXL), and pays for the padded size.
ENGINE_SIZE_MULTIPLE = 64
# Fallbacks before a model has finished a job: a mid-range CPU with an SD1.x model at f16.
DEFAULT_STEP_SECONDS_PER_MEGAPIXEL = 20.0
DEFAULT_DECODE_SECONDS_PER_MEGAPIXEL = 30.0
DEFAULT_ENCODE_SECONDS = 1.0
DEFAULT_OVERHEAD_SECONDS = 0.5
DEFAULT_LOAD_BYTES_PER_SECOND = 300e6  # reading and converting the weights from a local disk
# Peak memory: the weights (about the file size, as loaded) plus activations growing with pixels.
DEFAULT_MEMORY_PER_MODEL_BYTE = 1.2
DEFAULT_ACTIVATION_BYTES_PER_PIXEL = 6000

Basis = str  # "measured" | "scaled" | "default"


@dataclass(frozen=True)
class JobShape:
    """What the cost of a job depends on."""

    model_name: str
    mode: str
    width: int
    height: int
    steps: int
    batch_count: int
    hires_width: int = 0  # the hires fix's second pass; 0 when there is none
    hires_height: int = 0
    hires_steps: int = 0

    @property
    def pixels(self) -> int:
        return _padded(self.width) * _padded(self.height)

    @property
    def hires_pixels(self) -> int:
        return _padded(self.hires_width) * _padded(self.hires_height)

    @property
    def decoded_pixels(self) -> int:
        """The size the VAE decodes: the second pass's when there is one."""
        return self.hires_pixels if self.hires_steps else self.pixels

    @classmethod
    def of(cls, job: JobRecord) -> JobShape:
        p = job.params
        if isinstance(p, UpscaleParams):  # one pass of the upscaler, no sampling
            return cls(job.model_name or "", job.mode.value, p.width, p.height, 1, 1)
        if isinstance(p, FileJobParams):  # issue 16: no generation (a convert is not estimated)
            return cls("", job.mode.value, 0, 0, 0, 0)
        return cls.for_request(
            job.model_name or "", job.mode.value, p.width, p.height, p.steps, p.batch_count, p.hires
        )

    @classmethod
    def for_request(
        cls,
        model_name: str,
        mode: str,
        width: int,
        height: int,
        steps: int,
        batch_count: int,
        hires: HiresOptions | None,
    ) -> JobShape:
        if hires is None:
            return cls(model_name, mode, width, height, steps, batch_count)
        hires_width, hires_height = hires.target_size(width, height)
        return cls(
            model_name, mode, width, height, steps, batch_count,
            hires_width, hires_height, hires.pass_steps(steps),
        )  # fmt: skip


def _padded(size: int) -> int:
    return math.ceil(size / ENGINE_SIZE_MULTIPLE) * ENGINE_SIZE_MULTIPLE


@dataclass(frozen=True)
class RunEstimate:
    """One job's run on a worker, once it starts (no queue wait)."""

    basis: Basis
    load_seconds: float  # if the worker has to load the model
    encode_seconds: float
    step_seconds: float
    sampling_seconds: float
    decode_seconds: float
    overhead_seconds: float
    peak_memory_bytes: int
    memory_basis: Basis
    history_jobs: int

    def seconds(self, with_load: bool) -> float:
        body = self.encode_seconds + self.sampling_seconds + self.decode_seconds + self.overhead_seconds
        return body + (self.load_seconds if with_load else 0.0)


@dataclass(frozen=True)
class Estimate:
    run: RunEstimate
    queue_wait_seconds: float
    jobs_ahead: int
    needs_load: bool

    @property
    def total_seconds(self) -> float:
        return self.queue_wait_seconds + self.run.seconds(self.needs_load)


def _weakest(first: Basis, second: Basis) -> Basis:
    order = ("measured", "scaled", "default")
    return max(first, second, key=order.index)


def fit_by_pixels(
    points: Sequence[tuple[int, float]], pixels: int, single_point: str = "proportional"
) -> tuple[float, Basis] | None:
    """The value at `pixels` from (pixels, value) samples; None without samples.

    `single_point`: with one size seen, scale `proportional`ly to pixels or keep it `constant`."""
    if not points:
        return None
    by_size: dict[int, list[float]] = {}
    for size, value in points:
        by_size.setdefault(size, []).append(value)
    if pixels in by_size:
        return statistics.median(by_size[pixels]), "measured"
    sizes = sorted(by_size)
    medians = [statistics.median(by_size[size]) for size in sizes]
    if len(sizes) == 1:
        ratio = pixels / sizes[0] if single_point == "proportional" else 1.0
        return medians[0] * ratio, "scaled"
    mean_x, mean_y = statistics.fmean(sizes), statistics.fmean(medians)
    spread = sum((x - mean_x) ** 2 for x in sizes)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, medians, strict=True)) / spread
    intercept = mean_y - slope * mean_x
    if slope >= 0 and intercept >= 0:
        return intercept + slope * pixels, "scaled"
    # Costs growing faster than linearly (attention) or noisy points: a power law through the samples.
    if min(medians) <= 0:
        return max(statistics.fmean(medians), 0.0), "scaled"
    log_x, log_y = [math.log(x) for x in sizes], [math.log(y) for y in medians]
    mean_lx, mean_ly = statistics.fmean(log_x), statistics.fmean(log_y)
    power = sum((a - mean_lx) * (b - mean_ly) for a, b in zip(log_x, log_y, strict=True)) / sum(
        (a - mean_lx) ** 2 for a in log_x
    )
    return math.exp(mean_ly + power * (math.log(pixels) - mean_lx)), "scaled"


def _median(values: list[float], default: float) -> tuple[float, bool]:
    return (statistics.median(values), True) if values else (default, False)


class EstimateService:
    """Predicts time and memory of a generation from the store's history of finished jobs."""

    def __init__(
        self,
        store: JobStore,
        scheduler: Scheduler,
        model_files: ModelFiles,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._files = model_files
        self._clock = clock

    def estimate(self, shape: JobShape) -> Estimate:
        """Queue wait + (load if needed) + encode + steps + decode for a job of `shape` queued now."""
        cache: dict[tuple[str, str], list[JobRecord]] = {}
        now = self._clock()
        # Replay the running and queued jobs over the workers: when is each free, holding what model.
        free_at: list[float] = []
        holds: list[str | None] = []
        running_ids = set()
        for worker in self._scheduler.workers():
            remaining = 0.0
            if worker.job_id:
                running_ids.add(worker.job_id)
                job = self._store.get(worker.job_id)
                running = job is not None and job.status == JobStatus.PROCESSING
                if job is not None and running and not isinstance(job.params, FileJobParams):
                    run = self._run_estimate(JobShape.of(job), cache)
                    spent = now - (job.started_at or now)
                    remaining = max(run.seconds(job.phase == JobPhase.LOADING) - spent, 0.0)
            free_at.append(remaining)
            holds.append(worker.loaded_model)
        if not free_at:  # no worker slots at all: nothing would ever run; answer as for one idle worker
            free_at, holds = [0.0], [None]
        queued = sorted(self._store.list_jobs([JobStatus.QUEUED]), key=lambda job: job.seq)
        for job in queued:
            if isinstance(job.params, FileJobParams):  # issue 16: downloads, converts: no history to go by
                continue
            job_shape = JobShape.of(job)
            index = free_at.index(min(free_at))
            path = self._model_path(job_shape.model_name)
            run = self._run_estimate(job_shape, cache)
            free_at[index] += run.seconds(holds[index] != path)
            holds[index] = path
        index = free_at.index(min(free_at))
        run = self._run_estimate(shape, cache)
        needs_load = holds[index] != self._model_path(shape.model_name)
        return Estimate(
            run=run, queue_wait_seconds=free_at[index], jobs_ahead=len(queued), needs_load=needs_load
        )

    def _model_path(self, model_name: str) -> str | None:
        try:
            return str(self._files.resolve_checkpoint(model_name).path)
        except CatalogError:
            return None

    def _model_bytes(self, model_name: str) -> int:
        try:
            return self._files.resolve_checkpoint(model_name).size_bytes
        except CatalogError:
            return 0

    def _history(self, shape: JobShape, cache: dict[tuple[str, str], list[JobRecord]]) -> list[JobRecord]:
        key = (shape.model_name, shape.mode)
        if key not in cache:
            recent = self._store.recent_completed(shape.model_name, HISTORY_JOBS)
            cache[key] = [job for job in recent if job.mode == shape.mode and job.timings is not None]
        return cache[key]

    def _run_estimate(self, shape: JobShape, cache: dict[tuple[str, str], list[JobRecord]]) -> RunEstimate:
        history = self._history(shape, cache)
        step_points, decode_points, memory_points = [], [], []
        encodes, loads, overheads = [], [], []
        for job in history:
            timings, past = job.timings, JobShape.of(job)
            assert timings is not None  # filtered in _history
            if past.hires_steps:
                continue  # two sizes in one sampling time: no clean per-size figure
            step_points.append(
                (past.pixels, timings.sampling_seconds / max(past.steps * past.batch_count, 1))
            )
            decode_points.append((past.pixels, timings.decode_seconds / max(past.batch_count, 1)))
            encodes.append(timings.encode_seconds)
            if timings.load_seconds > 0:
                loads.append(timings.load_seconds)
            if timings.peak_memory_bytes:
                memory_points.append((past.pixels, float(timings.peak_memory_bytes)))
            if job.started_at and job.finished_at:
                measured = timings.encode_seconds + timings.sampling_seconds + timings.decode_seconds
                overheads.append(max(job.finished_at - job.started_at - measured - timings.load_seconds, 0.0))
        model_bytes = self._model_bytes(shape.model_name)

        def step_at(pixels: int) -> tuple[float, Basis]:
            return fit_by_pixels(step_points, pixels) or (
                DEFAULT_STEP_SECONDS_PER_MEGAPIXEL * pixels / 1e6,
                "default",
            )

        step_seconds, basis = step_at(shape.pixels)
        sampling_seconds = step_seconds * shape.steps * shape.batch_count
        if shape.hires_steps:
            hires_step_seconds, hires_basis = step_at(shape.hires_pixels)
            sampling_seconds += hires_step_seconds * shape.hires_steps * shape.batch_count
            basis = _weakest(basis, hires_basis)
        decode_seconds, decode_basis = fit_by_pixels(decode_points, shape.decoded_pixels) or (
            DEFAULT_DECODE_SECONDS_PER_MEGAPIXEL * shape.decoded_pixels / 1e6,
            "default",
        )
        if basis == "measured" and decode_basis != "measured":
            basis = "scaled"
        memory = fit_by_pixels(memory_points, shape.decoded_pixels, single_point="constant")
        default_memory = model_bytes * DEFAULT_MEMORY_PER_MODEL_BYTE
        default_memory += shape.decoded_pixels * shape.batch_count * DEFAULT_ACTIVATION_BYTES_PER_PIXEL
        memory_bytes, memory_basis = memory or (default_memory, "default")
        encode, _ = _median(encodes, DEFAULT_ENCODE_SECONDS)
        load, _ = _median(loads, model_bytes / DEFAULT_LOAD_BYTES_PER_SECOND)
        overhead, _ = _median(overheads, DEFAULT_OVERHEAD_SECONDS)
        return RunEstimate(
            basis=basis,
            load_seconds=load,
            encode_seconds=encode,
            step_seconds=step_seconds,
            sampling_seconds=sampling_seconds,
            decode_seconds=decode_seconds * shape.batch_count,
            overhead_seconds=overhead,
            peak_memory_bytes=int(memory_bytes),
            memory_basis=memory_basis,
            history_jobs=len(history),
        )
