"""Output retention on a real database (SQLite and PostgreSQL) and real output folders: the oldest
finished jobs go, files and rows together; queued and running jobs stay whatever their size or age."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.records import JobStatus
from sdcpp_rest.jobs.retention import BYTES_PER_MB, SECONDS_PER_DAY, OutputRetention
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.tables import jobs_table
from tests.unit.conftest import text2img_job

NOW = 1_800_000_000.0
FILE_BYTES = 100_000


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


def _write_outputs(outputs: Path, job_id: str, files: int = 1) -> None:
    (outputs / job_id).mkdir()
    for index in range(files):
        (outputs / job_id / f"image_{index}.png").write_bytes(b"x" * FILE_BYTES)


def _job(
    store: SqlJobStore,
    engine: Engine,
    outputs: Path,
    status: JobStatus,
    finished_days_ago: float = 0.0,
    files: int = 1,
) -> str:
    """A job in `status` with `files` output files; a finished one finished that many days before NOW."""
    job_id = str(uuid.uuid4())
    store.add(text2img_job(job_id))
    if status is not JobStatus.QUEUED:
        claimed = store.claim_next("w0")
        assert claimed is not None and claimed.id == job_id
    if status is JobStatus.COMPLETED:
        assert store.complete(job_id, ["image_0.png"])
    elif status is JobStatus.FAILED:
        assert store.fail(job_id, ErrorCode.GENERATION_FAILED, "failed")
    elif status is JobStatus.CANCELLED:
        assert store.mark_cancelled(job_id)
    if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        with engine.begin() as conn:
            finished_at = NOW - finished_days_ago * SECONDS_PER_DAY
            conn.execute(jobs_table.update().where(jobs_table.c.id == job_id).values(finished_at=finished_at))
    if files:
        _write_outputs(outputs, job_id, files)
    return job_id


def _retention(store: SqlJobStore, outputs: Path, days: float = 0.0, mb: float = 0.0) -> OutputRetention:
    return OutputRetention(
        store, outputs, max_age_days=days, max_total_mb=mb, interval_s=3600, clock=lambda: NOW
    )


def _remaining(store: SqlJobStore, outputs: Path, ids: list[str]) -> list[str]:
    """The ids still present, checking that row and folder agree for each."""
    left = []
    for job_id in ids:
        has_row = store.get(job_id) is not None
        has_files = (outputs / job_id).exists()
        assert has_row == has_files, f"{job_id}: row {has_row}, files {has_files}"
        if has_row:
            left.append(job_id)
    return left


def test_age_limit_removes_exactly_the_finished_jobs_older_than_it(
    store: SqlJobStore, engine: Engine, outputs: Path
) -> None:
    old_done = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=10)
    old_failed = _job(store, engine, outputs, JobStatus.FAILED, finished_days_ago=8)
    old_cancelled = _job(store, engine, outputs, JobStatus.CANCELLED, finished_days_ago=7.5)
    recent = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=6)
    running = _job(store, engine, outputs, JobStatus.PROCESSING)
    queued = _job(store, engine, outputs, JobStatus.QUEUED)
    report = _retention(store, outputs, days=7).run_once()
    assert report.deleted == [old_done, old_failed, old_cancelled]
    assert report.freed_bytes == 3 * FILE_BYTES
    everything = [old_done, old_failed, old_cancelled, recent, running, queued]
    assert _remaining(store, outputs, everything) == [recent, running, queued]


def test_size_limit_removes_the_oldest_finished_until_it_fits(
    store: SqlJobStore, engine: Engine, outputs: Path
) -> None:
    # Created out of order: age is when a job finished, not when it was queued.
    second = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=3, files=2)
    first = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=4)
    third = _job(store, engine, outputs, JobStatus.FAILED, finished_days_ago=2)
    newest = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=1)
    running = _job(store, engine, outputs, JobStatus.PROCESSING, files=3)
    queued = _job(store, engine, outputs, JobStatus.QUEUED)
    # 9 files on disk, 4 of them the running and queued jobs'; the limit holds 5.5 files: the oldest
    # finished go until 5 remain (running, queued and the newest), and not one more.
    limit_mb = 5.5 * FILE_BYTES / BYTES_PER_MB
    report = _retention(store, outputs, mb=limit_mb).run_once()
    assert report.deleted == [first, second, third]
    assert report.total_bytes == 5 * FILE_BYTES
    everything = [first, second, third, newest, running, queued]
    assert _remaining(store, outputs, everything) == [newest, running, queued]


def test_size_limit_never_touches_running_or_queued_jobs_even_when_they_alone_exceed_it(
    store: SqlJobStore, engine: Engine, outputs: Path
) -> None:
    running = _job(store, engine, outputs, JobStatus.PROCESSING, files=5)
    queued = _job(store, engine, outputs, JobStatus.QUEUED, files=2)
    report = _retention(store, outputs, mb=0.01).run_once()
    assert report.deleted == [] and report.total_bytes == 7 * FILE_BYTES
    assert _remaining(store, outputs, [running, queued]) == [running, queued]


def test_no_limits_delete_nothing_and_start_no_thread(
    store: SqlJobStore, engine: Engine, outputs: Path
) -> None:
    old = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=1000)
    retention = _retention(store, outputs)
    assert not retention.enabled
    retention.start()
    assert retention.run_once().deleted == []
    assert _remaining(store, outputs, [old]) == [old]
    retention.stop()


def test_delete_job_removes_a_finished_job_and_refuses_an_active_one(
    store: SqlJobStore, engine: Engine, outputs: Path
) -> None:
    done = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=0)
    running = _job(store, engine, outputs, JobStatus.PROCESSING)
    retention = _retention(store, outputs)
    job = store.get(done)
    assert job is not None and retention.delete_job(job)
    assert _remaining(store, outputs, [done]) == []
    assert not retention.delete_job(job)  # already gone
    active = store.get(running)
    assert active is not None and not retention.delete_job(active)
    assert _remaining(store, outputs, [running]) == [running]


def test_a_job_whose_files_cannot_be_removed_keeps_its_row(
    store: SqlJobStore, engine: Engine, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=30)

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("sdcpp_rest.jobs.retention.shutil.rmtree", refuse)
    report = _retention(store, outputs, days=1).run_once()
    assert report.deleted == [] and store.get(stuck) is not None
    monkeypatch.undo()
    assert _retention(store, outputs, days=1).run_once().deleted == [stuck]  # the next run retries


def test_periodic_thread_cleans_up_on_its_own(store: SqlJobStore, engine: Engine, outputs: Path) -> None:
    old = _job(store, engine, outputs, JobStatus.COMPLETED, finished_days_ago=3)
    retention = OutputRetention(
        store, outputs, max_age_days=1, max_total_mb=0, interval_s=0.1, clock=lambda: NOW
    )
    retention.start()
    try:
        deadline = time.monotonic() + 10
        while store.get(old) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        retention.stop()
    assert _remaining(store, outputs, [old]) == []
