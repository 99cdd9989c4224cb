"""Output retention: finished jobs older than a maximum age, or the oldest ones while the output folder
is over a size limit, lose their files and their row together; a queued or running job is never touched.

Files go first, then the row: when a file cannot be removed the row stays and the next run retries,
so no output folder is left behind without a job that accounts for it.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.outputs.files import is_job_id

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86400.0
BYTES_PER_MB = 1024 * 1024


@dataclass(frozen=True)
class RetentionReport:
    """What one cleanup run removed, and how large the output folder is after it."""

    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    total_bytes: int | None = None  # measured only when a size limit is set


def _tree_bytes(path: str) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


class OutputRetention:
    """Deletes finished jobs by age and by the output folder's total size; runs on its own thread."""

    def __init__(
        self,
        store: JobStore,
        output_root: Path,
        *,
        max_age_days: float,
        max_total_mb: float,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._root = output_root
        self._max_age_s = max_age_days * SECONDS_PER_DAY
        self._max_total_bytes = int(max_total_mb * BYTES_PER_MB)
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()  # one deletion at a time: the API's and the periodic run's
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self._max_age_s > 0 or self._max_total_bytes > 0

    def start(self) -> None:
        """Run the cleanup now and then every interval, on a daemon thread; nothing when both limits are 0."""
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="output-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.run_once()
                if report.deleted:
                    log.info(
                        "output retention: deleted %d finished job(s), freed %.1f MB",
                        len(report.deleted),
                        report.freed_bytes / BYTES_PER_MB,
                    )
            except Exception:  # a full disk or a locked database must not end the thread for good
                log.exception("output retention run failed; retrying in %.0f s", self._interval_s)
            self._stopping.wait(self._interval_s)

    def run_once(self) -> RetentionReport:
        """Delete finished jobs past the maximum age, then the oldest finished ones until the output
        folder fits the size limit. Returns what was removed."""
        deleted: list[str] = []
        freed = 0
        with self._lock:
            if self._max_age_s > 0:
                for job in self._store.finished_oldest_first(finished_before=self._clock() - self._max_age_s):
                    size = self._job_bytes(job.id)
                    if self._delete_locked(job):
                        deleted.append(job.id)
                        freed += size
            if self._max_total_bytes <= 0:
                return RetentionReport(deleted, freed)
            sizes, total = self._folder_sizes()
            for job in self._store.finished_oldest_first():
                if total <= self._max_total_bytes:
                    break
                if self._delete_locked(job):
                    deleted.append(job.id)
                    size = sizes.get(job.id, 0)
                    freed += size
                    total -= size
            return RetentionReport(deleted, freed, total)

    def delete_job(self, job: JobRecord) -> bool:
        """Delete one finished job's files and row (DELETE /api/queue/job/{id}); False when the job is
        not finished or is already gone, or its files could not be removed (the row is then kept)."""
        if not job.is_final:
            return False
        with self._lock:
            return self._delete_locked(job)

    def _delete_locked(self, job: JobRecord) -> bool:
        if not job.is_final or not self._remove_files(job.id):
            return False
        return self._store.delete_finished(job.id)

    def _remove_files(self, job_id: str) -> bool:
        if not is_job_id(job_id):
            return True  # not a folder name this server ever wrote: nothing of ours to remove
        folder = self._root / job_id
        try:
            if folder.is_symlink():
                folder.unlink()  # never follow a link out of the output folder
            elif folder.is_dir():
                shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("output retention: cannot remove the files of job %s: %s", job_id, exc)
            return False
        return True

    def _job_bytes(self, job_id: str) -> int:
        folder = self._root / job_id
        return _tree_bytes(str(folder)) if is_job_id(job_id) and folder.is_dir() else 0

    def _folder_sizes(self) -> tuple[dict[str, int], int]:
        """Bytes of each job folder, and of the whole output folder (stray files and running jobs'
        outputs count towards the limit too, though only finished jobs are ever deleted)."""
        sizes: dict[str, int] = {}
        total = 0
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            return sizes, 0
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    sizes[entry.name] = _tree_bytes(entry.path)
                    total += sizes[entry.name]
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
        return sizes, total
