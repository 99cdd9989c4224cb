"""Claims with tokens and leases on a real database (SQLite and PostgreSQL): a claim that ran out is
requeued once and then failed, the old holder's every write is refused, a cancel reaches the holder
through its renewal, claims keep to what a worker can run, and processes never share a job.

A lease "runs out" here by writing its expiry into the past (what time would do), so nothing waits.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.cluster.local_models import LocalCheckpoints
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.claims import Runnable
from sdcpp_rest.jobs.params import JobMode, ModelDownloadParams, UpscaleParams
from sdcpp_rest.jobs.records import JobPhase, JobRecord, JobStatus, NewJob
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine
from sdcpp_rest.storage.tables import jobs_table
from tests.unit.conftest import text2img_job


def add(store: SqlJobStore, model: str = "sd15.safetensors") -> str:
    return store.add(text2img_job(str(uuid.uuid4()), model_name=model)).id


def claimed(store: SqlJobStore, worker: str, runnable: Runnable | None = None) -> JobRecord:
    record = store.claim_next(worker) if runnable is None else store.claim_next(worker, runnable)
    assert record is not None and record.claim_token is not None
    return record


def run_out(engine: Engine, job_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            jobs_table.update().where(jobs_table.c.id == job_id).values(lease_expires_at=time.time() - 1)
        )


def get(store: SqlJobStore, job_id: str) -> JobRecord:
    record = store.get(job_id)
    assert record is not None
    return record


def test_a_claim_has_a_token_and_a_lease_that_renewal_extends(engine: Engine) -> None:
    store = SqlJobStore(engine, lease_seconds=60)
    job_id = add(store)
    before = time.time()
    job = claimed(store, "a")
    assert job.lease_expires_at is not None and job.lease_expires_at >= before + 60
    assert get(store, job_id).claim_token == job.claim_token

    lease = store.renew_lease(job_id, job.claim_token or "")
    assert lease.held and not lease.cancel_requested
    assert lease.expires_at is not None and lease.expires_at >= job.lease_expires_at
    assert not store.renew_lease(job_id, uuid.uuid4().hex).held  # somebody else's token
    assert store.expire_leases(max_attempts=2).requeued == []  # not run out: stays with its holder


def test_a_run_out_claim_is_requeued_and_the_old_holders_writes_are_refused(engine: Engine) -> None:
    store = SqlJobStore(engine)
    job_id = add(store)
    old = claimed(store, "stopped")
    run_out(engine, job_id)

    report = store.expire_leases(max_attempts=2)

    assert (report.requeued, report.failed) == ([job_id], [])
    requeued = get(store, job_id)
    assert (requeued.status, requeued.claim_token, requeued.worker_id) == (JobStatus.QUEUED, None, None)
    new = claimed(store, "other")
    assert new.id == job_id and new.claim_token != old.claim_token and new.attempts == 2
    late = old.claim_token
    progress = {"phase": JobPhase.SAMPLING, "current_step": 1, "total_steps": 4, "step_seconds": 1.0}
    assert not store.update_progress(job_id, token=late, **progress)
    assert not store.complete(job_id, ["late.png"], token=late)
    assert not store.fail(job_id, ErrorCode.GENERATION_FAILED, "late", token=late)
    assert not store.mark_cancelled(job_id, token=late)
    assert not store.requeue(job_id, count_attempt=False, token=late)
    assert not store.renew_lease(job_id, late or "").held
    assert (get(store, job_id).status, get(store, job_id).worker_id) == (JobStatus.PROCESSING, "other")

    assert store.update_progress(job_id, token=new.claim_token, **progress)
    assert store.complete(job_id, ["image_0.png"], token=new.claim_token)
    done = get(store, job_id)
    assert (done.status, done.outputs, done.worker_id) == (JobStatus.COMPLETED, ["image_0.png"], "other")
    assert not store.complete(job_id, ["again.png"], token=new.claim_token)  # completes once


def test_a_claim_that_runs_out_again_fails_with_the_reason(engine: Engine) -> None:
    store = SqlJobStore(engine)
    job_id = add(store)
    for worker in ("first", "second"):
        claimed(store, worker)
        run_out(engine, job_id)
        report = store.expire_leases(max_attempts=2)

    assert (report.requeued, report.failed) == ([], [job_id])
    failed = get(store, job_id)
    assert (failed.status, failed.error_code, failed.attempts) == (JobStatus.FAILED, "JOB_INTERRUPTED", 2)
    assert failed.error is not None and "stopped renewing its claim" in failed.error
    assert store.claim_next("third") is None


def test_a_cancel_is_seen_by_the_holders_renewal(engine: Engine) -> None:
    store = SqlJobStore(engine)
    queued_id, running_id = add(store), add(store)
    assert not store.request_cancel(queued_id)  # only a processing job is flagged
    store.cancel_queued(queued_id)
    job = claimed(store, "w")
    assert job.id == running_id and not job.cancel_requested

    assert store.request_cancel(running_id)

    lease = store.renew_lease(running_id, job.claim_token or "")
    assert lease.held and lease.cancel_requested
    assert store.mark_cancelled(running_id, token=job.claim_token)
    assert get(store, running_id).status is JobStatus.CANCELLED


def test_claims_keep_to_what_the_worker_can_run_in_fifo_order(engine: Engine) -> None:
    store = SqlJobStore(engine)
    other = add(store, "other.safetensors")
    first = add(store, "sd15.safetensors")
    upscale = store.add(
        NewJob(
            str(uuid.uuid4()),
            JobMode.UPSCALE,
            None,
            None,
            "",
            0,
            1,
            UpscaleParams(upscaler="x4.pth", n_threads=1, width=64, height=64),
        )
    ).id
    second = add(store, "sd15.safetensors")
    has_sd15 = Runnable.of(model_names=["sd15.safetensors"])

    order = [claimed(store, "w", has_sd15).id for _ in range(3)]

    assert order == [first, upscale, second]  # the upscale needs no checkpoint
    assert store.claim_next("w", has_sd15) is None
    assert store.claim_next("w", Runnable.of(modes=["img2img"])) is None
    assert claimed(store, "w", Runnable.of(modes=["text2img"])).id == other


def _claim_all(url: str, worker: str, start: multiprocessing.synchronize.Event) -> list[str]:
    engine = create_database_engine(url)
    store = SqlJobStore(engine)
    start.wait()
    got = []
    while (record := store.claim_next(worker)) is not None:
        got.append(record.id)
    engine.dispose()
    return got


def test_claiming_processes_take_every_job_exactly_once(db_url: str, engine: Engine) -> None:
    store = SqlJobStore(engine)
    ids = [add(store) for _ in range(60)]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(3) as pool:
            results = [pool.apply_async(_claim_all, (db_url, f"p{i}", start)) for i in range(3)]
            start.set()
            claims = [result.get(timeout=120) for result in results]

    taken = [job_id for got in claims for job_id in got]
    assert sorted(taken) == sorted(ids)  # each once
    with engine.connect() as conn:
        workers = dict(conn.execute(sa.select(jobs_table.c.id, jobs_table.c.worker_id)).all())
    assert all(workers[job_id] == f"p{index}" for index, got in enumerate(claims) for job_id in got)


def test_a_cluster_worker_claims_jobs_of_its_diffusion_models_and_never_a_download(
    engine: Engine, tmp_path: Path
) -> None:
    """A job whose model_name is a stand-alone diffusion model (a Flux file in diffusion_models/) is
    claimed by the worker that has the file; a model download is claimed by no engine worker."""
    models = tmp_path / "models"
    for relative in ("checkpoints/sd15.safetensors", "diffusion_models/flux-mini.gguf"):
        (models / relative).parent.mkdir(parents=True, exist_ok=True)
        (models / relative).write_bytes(b"\0")
    runnable = LocalCheckpoints(ModelFiles(models)).runnable()
    store = SqlJobStore(engine)
    download = store.add(
        NewJob(
            id=str(uuid.uuid4()),
            mode=JobMode.MODEL_DOWNLOAD,
            owner="admin",
            model_name=None,
            prompt="",
            seed=0,
            total_steps=0,
            params=ModelDownloadParams(
                url="https://example.com/m.safetensors", type="checkpoint", filename="m.safetensors"
            ),
        )
    ).id
    flux = add(store, "flux-mini.gguf")
    elsewhere = add(store, "not-here.safetensors")

    assert claimed(store, "w", runnable).id == flux
    assert store.claim_next("w", runnable) is None
    assert {get(store, download).status, get(store, elsewhere).status} == {JobStatus.QUEUED}


def test_a_processing_job_without_a_lease_counts_as_run_out(engine: Engine) -> None:
    # What a claim made before leases existed (or a row copied from SQLite) looks like.
    store = SqlJobStore(engine)
    job_id = add(store)
    claimed(store, "old-code")
    with engine.begin() as conn:
        conn.execute(jobs_table.update().values(claim_token=None, lease_expires_at=None))

    assert store.expire_leases(max_attempts=2).requeued == [job_id]
    assert get(store, job_id).status is JobStatus.QUEUED
