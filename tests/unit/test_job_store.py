"""SqlJobStore on a real SQLite file and a real PostgreSQL database: FIFO claims, exclusive claims,
transitions, recovery, durability."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.records import ALLOWED_TRANSITIONS, FINAL_STATUSES, JobPhase, JobStatus, NewJob
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, driver_url, migrate
from sdcpp_rest.storage.migrations import alembic_config
from tests.unit.conftest import database_url, text2img_job


def new_job(owner: str | None = None, prompt: str = "a cat", total_steps: int = 4) -> NewJob:
    return text2img_job(str(uuid.uuid4()), owner=owner, prompt=prompt, seed=12345, total_steps=total_steps)


def add_jobs(store: SqlJobStore, count: int, owner: str | None = None) -> list[str]:
    return [store.add(new_job(owner=owner, prompt=f"job {i}")).id for i in range(count)]


def status_of(store: SqlJobStore, job_id: str) -> JobStatus:
    record = store.get(job_id)
    assert record is not None
    return record.status


# --- schema and records ---


def test_create_database_engine_makes_the_sqlite_folder(tmp_path: Path) -> None:
    created = create_database_engine(database_url(tmp_path))
    try:
        migrate(created)
    finally:
        created.dispose()

    assert (tmp_path / "db" / "jobs.db").is_file()


def test_sqlite_connections_use_wal_journal(tmp_path: Path) -> None:
    sqlite = create_database_engine(database_url(tmp_path))
    try:
        with sqlite.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        sqlite.dispose()


def test_migrate_twice_keeps_one_alembic_version_row_at_head(engine: Engine) -> None:
    migrate(engine)

    with engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == [ScriptDirectory.from_config(alembic_config()).get_current_head()]


def test_added_job_is_queued_with_its_fields(store: SqlJobStore) -> None:
    job = new_job(owner="alice", total_steps=7)

    record = store.add(job)

    assert record.id == job.id
    assert record.status is JobStatus.QUEUED
    assert record.owner == "alice"
    assert record.prompt == job.prompt
    assert record.seed == job.seed
    assert record.params == job.params
    assert record.total_steps == 7
    assert record.attempts == 0
    assert record.current_step == 0
    assert record.started_at is None and record.finished_at is None
    assert record.outputs == []
    assert record.is_final is False
    assert store.get(job.id) == record


def test_get_unknown_job_returns_none(store: SqlJobStore) -> None:
    assert store.get(str(uuid.uuid4())) is None


def test_adding_the_same_id_twice_is_refused(store: SqlJobStore) -> None:
    job = new_job()
    store.add(job)

    with pytest.raises(sa.exc.IntegrityError):
        store.add(job)


def test_final_statuses_allow_no_transition() -> None:
    for status in FINAL_STATUSES:
        assert ALLOWED_TRANSITIONS[status] == frozenset()
    assert JobStatus.PROCESSING in ALLOWED_TRANSITIONS[JobStatus.QUEUED]


# --- claiming ---


def test_claim_next_returns_jobs_in_fifo_order(store: SqlJobStore) -> None:
    ids = add_jobs(store, 5)

    claimed = [store.claim_next("w1") for _ in ids]

    assert [record.id for record in claimed if record] == ids
    assert store.claim_next("w1") is None


def test_claimed_job_is_processing_with_worker_and_one_attempt(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    record = store.claim_next("worker-7")

    assert record is not None and record.id == job_id
    assert record.status is JobStatus.PROCESSING
    assert record.worker_id == "worker-7"
    assert record.attempts == 1
    assert record.phase == JobPhase.WAITING.value
    assert record.started_at is not None


def test_claim_next_on_empty_queue_returns_none(store: SqlJobStore) -> None:
    assert store.claim_next("w1") is None


def test_concurrent_claims_from_two_threads_never_share_a_job(store: SqlJobStore) -> None:
    ids = add_jobs(store, 50)
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def claim_all(worker: str) -> None:
        try:
            barrier.wait()
            while (record := store.claim_next(worker)) is not None:
                assert record.worker_id == worker
                claimed[worker].append(record.id)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    all_claims = claimed["a"] + claimed["b"]
    assert set(claimed["a"]).isdisjoint(claimed["b"])
    assert sorted(all_claims) == sorted(ids)  # every job exactly once
    assert store.count_by_status()[JobStatus.PROCESSING] == 50
    assert all(store.get(job_id).worker_id in {"a", "b"} for job_id in ids)  # type: ignore[union-attr]


# --- transitions ---


def test_cancel_queued_cancels_a_queued_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    assert store.cancel_queued(job_id) is True

    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert record.finished_at is not None
    assert record.is_final


def test_cancel_queued_refuses_processing_and_finished_jobs(store: SqlJobStore) -> None:
    processing, done = add_jobs(store, 2)
    store.claim_next("w")
    store.claim_next("w")
    store.complete(done, ["image_0.png"])

    assert store.cancel_queued(processing) is False
    assert store.cancel_queued(done) is False
    assert store.cancel_queued(str(uuid.uuid4())) is False
    assert status_of(store, processing) is JobStatus.PROCESSING
    assert status_of(store, done) is JobStatus.COMPLETED


def test_cancelled_job_is_never_claimed(store: SqlJobStore) -> None:
    first, second = add_jobs(store, 2)
    store.cancel_queued(first)

    record = store.claim_next("w")

    assert record is not None and record.id == second


def test_complete_records_outputs_and_finishes_steps(store: SqlJobStore) -> None:
    job_id = store.add(new_job(total_steps=9)).id
    store.claim_next("w")
    store.update_progress(job_id, phase=JobPhase.SAMPLING, current_step=3, total_steps=9, step_seconds=0.5)

    assert store.complete(job_id, ["image_0.png", "image_1.png"]) is True

    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.COMPLETED
    assert record.outputs == ["image_0.png", "image_1.png"]
    assert record.current_step == 9
    assert record.phase is None
    assert record.finished_at is not None


def test_complete_only_applies_to_processing_jobs(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    assert store.complete(job_id, ["image_0.png"]) is False
    assert status_of(store, job_id) is JobStatus.QUEUED


def test_update_progress_changes_a_processing_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")

    store.update_progress(job_id, phase=JobPhase.SAMPLING, current_step=2, total_steps=4, step_seconds=1.5)

    record = store.get(job_id)
    assert record is not None
    assert (record.phase, record.current_step, record.total_steps, record.step_seconds) == (
        "sampling",
        2,
        4,
        1.5,
    )


def test_update_progress_ignores_a_queued_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    store.update_progress(job_id, phase=JobPhase.SAMPLING, current_step=2, total_steps=4, step_seconds=1.0)

    record = store.get(job_id)
    assert record is not None
    assert (record.phase, record.current_step) == (None, 0)


def test_fail_records_code_and_message_for_processing_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")

    assert store.fail(job_id, ErrorCode.GENERATION_FAILED, "out of memory") is True

    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert (record.error_code, record.error) == ("GENERATION_FAILED", "out of memory")
    assert record.finished_at is not None
    assert record.phase is None


def test_fail_also_applies_to_a_queued_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    assert store.fail(job_id, ErrorCode.MODEL_NOT_FOUND, "gone") is True
    assert status_of(store, job_id) is JobStatus.FAILED


def test_fail_refuses_finished_jobs(store: SqlJobStore) -> None:
    done, cancelled = add_jobs(store, 2)
    store.claim_next("w")
    store.complete(done, [])
    store.cancel_queued(cancelled)

    assert store.fail(done, ErrorCode.GENERATION_FAILED, "late") is False
    assert store.fail(cancelled, ErrorCode.GENERATION_FAILED, "late") is False
    assert status_of(store, done) is JobStatus.COMPLETED
    assert status_of(store, cancelled) is JobStatus.CANCELLED


def test_mark_cancelled_only_applies_to_processing_jobs(store: SqlJobStore) -> None:
    processing, queued = add_jobs(store, 2)
    store.claim_next("w")

    assert store.mark_cancelled(queued) is False
    assert store.mark_cancelled(processing) is True
    assert store.mark_cancelled(processing) is False  # already final

    record = store.get(processing)
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert record.finished_at is not None
    assert status_of(store, queued) is JobStatus.QUEUED


def test_completed_job_cannot_be_cancelled_or_requeued(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")
    store.complete(job_id, [])

    assert store.mark_cancelled(job_id) is False
    assert store.requeue(job_id, count_attempt=False) is False
    assert status_of(store, job_id) is JobStatus.COMPLETED


# --- clearing and positions ---


def test_clear_queued_returns_cancelled_ids_and_leaves_processing_alone(store: SqlJobStore) -> None:
    ids = add_jobs(store, 4)
    processing = store.claim_next("w")
    assert processing is not None

    cleared = store.clear_queued()

    assert sorted(cleared) == sorted(ids[1:])
    assert all(status_of(store, job_id) is JobStatus.CANCELLED for job_id in ids[1:])
    assert status_of(store, processing.id) is JobStatus.PROCESSING
    assert store.clear_queued() == []


def test_clear_queued_for_an_owner_leaves_other_owners_jobs(store: SqlJobStore) -> None:
    alices = add_jobs(store, 2, owner="alice")
    bobs = add_jobs(store, 2, owner="bob")

    assert sorted(store.clear_queued(owner="alice")) == sorted(alices)
    assert all(status_of(store, job_id) is JobStatus.QUEUED for job_id in bobs)


def test_queue_positions_are_one_to_n_in_fifo_order(store: SqlJobStore) -> None:
    ids = add_jobs(store, 5)

    assert store.queue_positions() == {job_id: index + 1 for index, job_id in enumerate(ids)}


def test_queue_positions_close_up_after_claim_and_cancel(store: SqlJobStore) -> None:
    ids = add_jobs(store, 5)
    store.claim_next("w")
    store.cancel_queued(ids[2])

    assert store.queue_positions() == {ids[1]: 1, ids[3]: 2, ids[4]: 3}


def test_count_by_status_lists_every_status(store: SqlJobStore) -> None:
    ids = add_jobs(store, 3)
    store.claim_next("w")
    store.cancel_queued(ids[2])

    counts = store.count_by_status()

    assert counts == {
        JobStatus.QUEUED: 1,
        JobStatus.PROCESSING: 1,
        JobStatus.COMPLETED: 0,
        JobStatus.FAILED: 0,
        JobStatus.CANCELLED: 1,
    }


def test_list_jobs_is_newest_first_and_filters(store: SqlJobStore) -> None:
    alices = add_jobs(store, 2, owner="alice")
    bobs = add_jobs(store, 1, owner="bob")
    store.claim_next("w")  # alice's first

    assert [r.id for r in store.list_jobs()] == [bobs[0], alices[1], alices[0]]
    assert [r.id for r in store.list_jobs(owner="alice")] == [alices[1], alices[0]]
    assert [r.id for r in store.list_jobs([JobStatus.PROCESSING])] == [alices[0]]
    assert [r.id for r in store.list_jobs(limit=1)] == [bobs[0]]


# --- requeue and recovery ---


def test_requeue_without_counting_restores_attempts(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")

    assert store.requeue(job_id, count_attempt=False) is True

    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.QUEUED
    assert record.attempts == 0
    assert (record.worker_id, record.started_at, record.phase) == (None, None, None)


def test_requeue_counting_the_attempt_keeps_it(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")

    assert store.requeue(job_id, count_attempt=True) is True

    record = store.get(job_id)
    assert record is not None
    assert record.attempts == 1


def test_requeue_refuses_a_queued_job(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]

    assert store.requeue(job_id, count_attempt=False) is False
    record = store.get(job_id)
    assert record is not None and record.attempts == 0


def test_recover_interrupted_requeues_job_below_max_attempts(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")  # attempts = 1

    report = store.recover_interrupted(max_attempts=2)

    assert report.requeued == [job_id]
    assert report.failed == []
    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.QUEUED
    assert record.attempts == 1


def test_recover_interrupted_fails_job_at_max_attempts(store: SqlJobStore) -> None:
    job_id = add_jobs(store, 1)[0]
    store.claim_next("w")
    store.requeue(job_id, count_attempt=True)
    store.claim_next("w")  # attempts = 2

    report = store.recover_interrupted(max_attempts=2)

    assert report.failed == [job_id]
    assert report.requeued == []
    record = store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert record.error_code == "JOB_INTERRUPTED"
    assert record.error and "2 times" in record.error


def test_recovered_job_keeps_its_place_at_the_head_of_the_queue(store: SqlJobStore) -> None:
    ids = add_jobs(store, 3)
    store.claim_next("w")

    store.recover_interrupted(max_attempts=3)

    assert store.queue_positions() == {ids[0]: 1, ids[1]: 2, ids[2]: 3}
    record = store.claim_next("w2")
    assert record is not None and record.id == ids[0] and record.attempts == 2


def test_recover_interrupted_ignores_queued_and_finished_jobs(store: SqlJobStore) -> None:
    done, queued = add_jobs(store, 2)
    store.claim_next("w")
    store.complete(done, [])

    report = store.recover_interrupted(max_attempts=1)

    assert (report.requeued, report.failed) == ([], [])
    assert status_of(store, done) is JobStatus.COMPLETED
    assert status_of(store, queued) is JobStatus.QUEUED


# --- durability ---


def test_jobs_survive_closing_and_reopening_the_database(db_url: str) -> None:
    url = db_url
    first_engine = create_database_engine(url)
    migrate(first_engine)
    first = SqlJobStore(first_engine)
    done, processing, queued = add_jobs(first, 3)
    first.claim_next("w")
    first.complete(done, ["image_0.png"])
    first.claim_next("w")
    before = {job_id: first.get(job_id) for job_id in (done, processing, queued)}
    first_engine.dispose()

    second_engine = create_database_engine(url)
    try:
        migrate(second_engine)  # start-up runs migrate again on an existing file
        second = SqlJobStore(second_engine)
        after = {job_id: second.get(job_id) for job_id in (done, processing, queued)}
        report = second.recover_interrupted(max_attempts=2)
        next_claim = second.claim_next("w-after-restart")
    finally:
        second_engine.dispose()

    assert after == before
    assert report.requeued == [processing]
    assert next_claim is not None and next_claim.id == processing


def test_a_plain_postgresql_url_opens_with_psycopg_3(postgres_run_database: str) -> None:
    # What a user writes (postgresql:// or postgres://), not the test's postgresql+psycopg:// form.
    rest = postgres_run_database.split("://", 1)[1]
    for scheme in ("postgresql", "postgres"):
        assert driver_url(f"{scheme}://{rest}") == f"postgresql+psycopg://{rest}"
        plain = create_database_engine(f"{scheme}://{rest}")
        try:
            store = SqlJobStore(plain)
            job_id = store.add(new_job()).id
            assert status_of(store, job_id) is JobStatus.QUEUED
            assert plain.dialect.driver == "psycopg"
        finally:
            plain.dispose()
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"
