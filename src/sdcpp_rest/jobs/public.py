"""A job as clients see it (JobPublic): progress, times in milliseconds, the time left estimated
from this job's steps or, before its first step, from recent jobs of its model."""

from __future__ import annotations

import statistics
import time

from sdcpp_rest.jobs.params import FileJobParams, ModelDownloadParams
from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.outputs.signing import OutputLinks
from sdcpp_rest.schemas.jobs import DownloadProgressPublic, JobOutput, JobPublic

# Estimates before a job's first step use this many recent jobs of its model, re-read at most this often.
HISTORY_JOBS = 20
HISTORY_CACHE_SECONDS = 5.0


class JobPresenter:
    """Turns job records into JobPublic; keeps a short cache of each model's recent step times."""

    def __init__(self, store: JobStore, links: OutputLinks) -> None:
        self._store = store
        self._links = links
        self._history_cache: dict[str, tuple[float, list[JobRecord]]] = {}

    def _historic_step_seconds(self, job: JobRecord, read: bool) -> float | None:
        """Seconds per step of recent jobs of the same model: same size if any, else scaled by pixels
        (sampling cost grows about linearly with the latent's pixel count)."""
        if not job.model_name or isinstance(job.params, FileJobParams):
            return None
        now = time.monotonic()
        cached = self._history_cache.get(job.model_name)
        if cached is None and not read:
            return None
        if cached is None or (read and now - cached[0] > HISTORY_CACHE_SECONDS):
            cached = (now, self._store.recent_completed(job.model_name, HISTORY_JOBS))
            self._history_cache[job.model_name] = cached
        # Only generations have a size (issue 16: downloads have no model_name, so none come here).
        history = [h for h in cached[1] if not isinstance(h.params, FileJobParams)]
        if not history:
            return None
        width, height = job.params.width, job.params.height
        same_size = [
            h.step_seconds
            for h in history
            if not isinstance(h.params, FileJobParams)
            and (h.params.width, h.params.height) == (width, height)
        ]
        if same_size:
            return statistics.median(s for s in same_size if s)
        scaled = [
            h.step_seconds * (width * height) / (h.params.width * h.params.height)
            for h in history
            if h.step_seconds and not isinstance(h.params, FileJobParams)
        ]
        return statistics.median(scaled) if scaled else None

    def to_public(self, job: JobRecord, positions: dict[str, int], *, read_history: bool = True) -> JobPublic:
        """`read_history=False`: estimate from the step times already cached, however old (a submit
        reads no history; a cold model's first queued update then has no time left)."""
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
            step_seconds = job.step_seconds or self._historic_step_seconds(job, read_history)
            if step_seconds:
                remaining = int(max(job.total_steps - job.current_step, 0) * step_seconds * 1000)
        outputs = [
            JobOutput(
                filename=name,
                url=self._links.file_url(job.id, name),
                thumbnail_url=self._links.thumbnail_url(job.id, name),
            )
            for name in job.outputs
        ]
        return JobPublic(
            id=job.id,
            status=job.status,
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
            parameters=job.params.model_dump(mode="json"),
            outputs=outputs,
            error=job.error,
            error_code=job.error_code,
            download=_download_progress(job),
        )


def _download_progress(job: JobRecord) -> DownloadProgressPublic | None:
    """Issue 16: a download keeps KiB in current_step/total_steps and seconds per KiB in step_seconds."""
    params = job.params
    if not isinstance(params, ModelDownloadParams):
        return None
    return DownloadProgressPublic(
        bytes_done=job.current_step * 1024,
        bytes_total=job.total_steps * 1024 if job.total_steps else None,
        speed_bytes_per_s=round(1024 / job.step_seconds, 1) if job.step_seconds else None,
        type=params.type,
        filename=params.filename,
    )
