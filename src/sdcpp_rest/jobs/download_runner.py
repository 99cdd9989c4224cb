"""The model download runner (issue 16): one thread in the server process that takes `model_download`
jobs from the queue, so downloads (network-bound) never hold an engine worker slot.

A download streams into a hidden part file in its type's folder (catalog/intake.py), is hashed on the
way (downloads/models.py), checked against the given or published SHA-256 and its header, then
renamed into place and added to the catalog with its hash. Progress goes to the job row in KiB
(`current_step`/`total_steps`, `step_seconds` per KiB), so /api/queue/job and the WebSocket show
progress, speed and time left like any job.

Stops: a cancel removes the part file; a server stop requeues the job (no attempt counted) and keeps
the part file, which the next run continues with a Range request; a crash leaves the job processing,
and start-up recovery requeues it the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sdcpp_rest.catalog.intake import (
    IntakeTarget,
    check_model_header,
    intake_target,
    move_into_place,
)
from sdcpp_rest.catalog.scan import TYPE_FOLDERS
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.downloads.models import DownloadCancelled, DownloadProgress, ModelFetcher
from sdcpp_rest.downloads.sources import shown
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.jobs.claims import Runnable
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.params import JobMode, ModelDownloadParams
from sdcpp_rest.jobs.records import JobPhase, JobRecord
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.monitoring.log_context import job_log_context
from sdcpp_rest.storage.outage import database_unavailable, keep_running

log = logging.getLogger(__name__)

RUNNER_ID = "downloader"
# The jobs this runner claims, in queue order (an engine worker's claims leave them out).
DOWNLOAD_JOBS = Runnable.of(modes=[JobMode.MODEL_DOWNLOAD.value])
IDLE_POLL_SECONDS = 1.0
PROGRESS_WRITE_SECONDS = 0.5
KIB = 1024


def part_tag(job_id: str) -> str:
    """The part file's tag: the same for every run of a job, so a resumed run finds its bytes."""
    return job_id.replace("-", "")[:12]


def unreachable_hint(kind: str) -> str:
    """What to do when the model's host cannot be reached (no network, a firewall, a blocked hub)."""
    folder = TYPE_FOLDERS.get(kind, (kind,))[0]
    return (
        "The server could not reach the model's host: check its network, or point the "
        "huggingface_endpoint setting (STABLE_DIFFUSION_HUGGINGFACE_ENDPOINT) at a mirror; or download "
        f"the file elsewhere, copy it into the models folder's {folder}/ and refresh the models "
        "(POST /api/models/refresh)"
    )


class HashMismatch(ApiError):
    code, status_code = ErrorCode.HASH_MISMATCH, 422


class DownloadRunner:
    """Runs model downloads one at a time on its own thread; the JobRunner side of them (cancel, wake)."""

    def __init__(
        self,
        store: JobStore,
        notifier: JobNotifier,
        fetcher: ModelFetcher,
        catalog: CatalogService,
        type_folder: Callable[[str], Path],
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._fetcher = fetcher
        self._catalog = catalog
        self._type_folder = type_folder
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._current: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- JobRunner (what JobService needs, beside the scheduler) ---
    def notify_work(self) -> None:
        self._wake.set()

    def cancel_running(self, job_id: str) -> bool:
        with self._lock:
            if self._current != job_id:
                return False
            self._cancel.set()
        return True

    def active_generations(self) -> int:
        return 0  # downloads are not generations

    @property
    def is_running(self) -> bool:
        return not self._stopping.is_set()

    # --- lifecycle ---
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="model-downloads", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # --- the thread ---
    def _loop(self) -> None:
        keep_running(self._serve_once, self._stopping, "download runner", log)

    def _serve_once(self) -> None:
        """Claim and run one model download, or wait for one."""
        claimed = self._store.claim_next(RUNNER_ID, DOWNLOAD_JOBS)
        if claimed is None:
            self._wake.wait(IDLE_POLL_SECONDS)
            self._wake.clear()
            return
        with self._lock:
            self._current = claimed.id
            self._cancel.clear()
        self._notifier.job_changed(claimed.id)
        self._notifier.queue_changed()
        try:
            with job_log_context(claimed.id, claimed.owner):
                self._run(claimed)
        except Exception as exc:  # a bug must not end the runner and strand the queue
            if database_unavailable(exc):
                # Left to the lease rules: the reaper requeues the download once its lease runs out.
                log.warning("model download %s: database unavailable (%s)", claimed.id, exc)
            else:
                log.exception("unexpected error in model download %s", claimed.id)
                self._store.fail(
                    claimed.id,
                    ErrorCode.INTERNAL_ERROR,
                    "internal error in the download",
                    token=claimed.claim_token,
                )
        finally:
            with self._lock:
                self._current = None
        self._notifier.job_changed(claimed.id)
        self._notifier.queue_changed()

    def _run(self, job: JobRecord) -> None:
        params = job.params
        assert isinstance(params, ModelDownloadParams)
        try:
            target = intake_target(
                self._type_folder(params.type), params.type, params.filename, part_tag(job.id)
            )
        except ApiError as exc:
            self._store.fail(job.id, exc.code, exc.message, token=job.claim_token)
            return
        log.info("downloading %s into %s/%s", shown(params.url), params.type, params.filename)
        progress = _ProgressWriter(self._store, self._notifier, job.id, job.claim_token)
        try:
            target.part.parent.mkdir(parents=True, exist_ok=True)  # a type folder not made yet
            result = self._fetcher.download(
                params.url,
                target.part,
                progress.update,
                lambda: (
                    self._cancel.is_set()
                    or self._stopping.is_set()
                    or progress.cancel_requested
                    or progress.lease_lost
                ),
            )
            self._store.update_progress(
                job.id, phase=JobPhase.VERIFYING, current_step=result.size // KIB,
                total_steps=result.size // KIB, step_seconds=progress.seconds_per_kib, token=job.claim_token,
            )  # fmt: skip
            self._notifier.job_changed(job.id)
            self._verify(params, target, result.sha256, result.published_sha256)
            move_into_place(target)
            self._catalog.record_hash(target.final, result.sha256)
            self._catalog.refresh()
        except DownloadCancelled:
            if progress.lease_lost:
                log.warning("download's claim ran out and was taken over; this run stops")
            elif self._cancel.is_set() or progress.cancel_requested:
                target.part.unlink(missing_ok=True)
                self._store.mark_cancelled(job.id, token=job.claim_token)
                log.info("download cancelled; the partial file is removed")
            else:  # the server stops: the next start continues where this one ended
                self._store.requeue(job.id, count_attempt=False, token=job.claim_token)
                log.info("download interrupted by the stop; it resumes on the next start")
            return
        except ApiError as exc:
            target.part.unlink(missing_ok=True)
            message = exc.message
            if exc.code in (ErrorCode.UPSTREAM_FAILED, ErrorCode.UPSTREAM_TIMEOUT):
                message = f"{message}. {unreachable_hint(params.type)}"
            self._store.fail(job.id, exc.code, message, token=job.claim_token)
            log.warning("download failed: %s", message)
            return
        except OSError as exc:
            target.part.unlink(missing_ok=True)
            message = f"cannot write the model file: {exc.strerror}"
            self._store.fail(job.id, ErrorCode.INTERNAL_ERROR, message, token=job.claim_token)
            return
        self._store.complete(job.id, [], token=job.claim_token)
        log.info(
            "downloaded %s/%s (%d bytes, sha256 %s)", params.type, params.filename, result.size, result.sha256
        )

    @staticmethod
    def _verify(
        params: ModelDownloadParams, target: IntakeTarget, sha256: str, published: str | None
    ) -> None:
        if params.sha256 and published and params.sha256 != published:
            raise HashMismatch(
                f"the given sha256 {params.sha256} is not the one the hub publishes ({published})"
            )
        expected = params.sha256 or published
        if expected and sha256 != expected:
            source = "given" if params.sha256 else "published"
            raise HashMismatch(f"the file's SHA-256 is {sha256}, not the {source} {expected}; it was removed")
        check_model_header(target.part, params.type, target.final.suffix)


class _ProgressWriter:
    """Writes a download's progress to its row (at most every PROGRESS_WRITE_SECONDS) and tells the
    notifier, so pollers and WebSocket clients see bytes, speed and time left.

    Each write also renews the claim's lease (jobs/claims.py), as an engine slot does while it
    samples: without it the lease reaper would requeue a download that runs longer than a lease.
    The renewal also brings a cancel asked for through another node of a cluster."""

    def __init__(self, store: JobStore, notifier: JobNotifier, job_id: str, token: str | None) -> None:
        self._store, self._notifier, self._job_id, self._token = store, notifier, job_id, token
        self.cancel_requested = False
        self.lease_lost = False  # the job was requeued from under this run: it writes nothing more
        self._started = time.monotonic()
        self._first: int | None = None
        self._last_write = float("-inf")
        self.seconds_per_kib: float | None = None

    @property
    def should_stop(self) -> bool:
        return self.cancel_requested or self.lease_lost

    def update(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._started = progress.done, now  # a resumed run's speed counts new bytes only
        if now - self._last_write < PROGRESS_WRITE_SECONDS and progress.done != progress.total:
            return
        self._last_write = now
        fetched_kib = (progress.done - self._first) / KIB
        elapsed = now - self._started
        if fetched_kib > 0 and elapsed > 0:
            self.seconds_per_kib = elapsed / fetched_kib
        total = progress.total if progress.total is not None else progress.done
        self._store.update_progress(
            self._job_id, phase=JobPhase.DOWNLOADING, current_step=progress.done // KIB,
            total_steps=total // KIB, step_seconds=self.seconds_per_kib, token=self._token,
        )  # fmt: skip
        if self._token is not None:
            lease = self._store.renew_lease(self._job_id, self._token)
            self.cancel_requested, self.lease_lost = lease.cancel_requested, not lease.held
        self._notifier.job_changed(self._job_id)
