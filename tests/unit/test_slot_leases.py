"""A worker slot and its claim, with the real engine on a real database (SQLite and PostgreSQL):
a cancel flagged on the row (what another node's API does) ends the running job; a claim taken over
stops the slot's work, and nothing the slot does afterwards reaches the row; the lease reaper hands
a vanished worker's job back to the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sdcpp_rest.auth.permissions import Principal, Role
from sdcpp_rest.config import load_settings
from sdcpp_rest.container import Services, build_services, start_services, stop_services
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event, JobUpdated
from sdcpp_rest.jobs.leases import LeaseReaper
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.records import JobStatus
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.outputs.signing import OutputLinks
from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.storage.tables import jobs_table
from tests.server import prepare_data_dir
from tests.unit.conftest import text2img_job

ALICE = Principal(user_id="alice-id", username="alice", role=Role.USER, method="api_key")
LONG_STEPS = 60
LEASE_SECONDS = 1.5  # short, so renewals (every 0.5 s) happen many times during a job
WAIT_SECONDS = 600  # a bound for a busy machine, not a timing claim


@pytest.fixture
def running(tmp_path: Path, db_url: str) -> Iterator[Services]:
    settings = load_settings(
        overrides={
            "data_dir": prepare_data_dir(tmp_path / "data"),
            "database_url": db_url,
            "max_concurrent_generations": 1,
            "n_threads": 1,
            "restart_grace_seconds": 0,
            "claim_lease_seconds": LEASE_SECONDS,
        }
    )
    services = build_services(settings)
    start_services(services)
    yield services
    stop_services(services)


def sampling(services: Services, job_id: str) -> threading.Event:
    started = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, JobUpdated) and event.job_id == job_id and event.update.current_step:
            started.set()

    services.bus.add_listener(on_event)
    return started


def test_a_cancel_flagged_on_the_row_reaches_the_slot_running_the_job(running: Services) -> None:
    job = running.jobs.submit(Text2ImgRequest(prompt="slow", width=64, height=64, steps=LONG_STEPS), ALICE)
    assert sampling(running, job.job_id).wait(WAIT_SECONDS), "the job never reached its first step"

    # What POST /api/queue/cancel on another API node writes: no call into this process's scheduler.
    assert running.store.request_cancel(job.job_id)

    done = running.jobs.wait(job.job_id, ALICE, timeout=WAIT_SECONDS)
    assert done.status == "cancelled"
    record = running.store.get(job.job_id)
    assert record is not None and record.current_step < LONG_STEPS


def test_a_claim_taken_over_stops_the_slot_and_its_writes_are_refused(running: Services) -> None:
    job = running.jobs.submit(Text2ImgRequest(prompt="slow", width=64, height=64, steps=LONG_STEPS), ALICE)
    assert sampling(running, job.job_id).wait(WAIT_SECONDS), "the job never reached its first step"
    # What a lease expiry and another worker's claim leave on the row: a new holder, token and lease
    # (a lease of its own, or this process's reaper would hand the job back to the queue meanwhile).
    with running.database.begin() as conn:
        conn.execute(
            jobs_table.update()
            .where(jobs_table.c.id == job.job_id)
            .values(
                claim_token="f" * 32,
                worker_id="elsewhere",
                current_step=0,
                phase="waiting",
                lease_expires_at=time.time() + 3600,  # the new holder renews its own lease
            )
        )

    idle = threading.Event()
    while not idle.wait(0.2):  # the slot notices at its next renewal, then stops the engine work
        if running.scheduler.active_generations() == 0:
            idle.set()

    record = running.store.get(job.job_id)
    assert record is not None
    # Still the new holder's: the slot neither completed, failed nor moved the job.
    assert (record.status, record.worker_id, record.claim_token) == (
        JobStatus.PROCESSING,
        "elsewhere",
        "f" * 32,
    )
    assert (record.current_step, record.phase) == (0, "waiting")
    assert running.store.complete(job.job_id, ["image_0.png"], token="f" * 32)


def test_the_reaper_requeues_a_vanished_workers_job_and_wakes_the_workers(engine: sa.engine.Engine) -> None:
    store = SqlJobStore(engine, lease_seconds=LEASE_SECONDS)
    job_id = store.add(text2img_job("00000000-0000-4000-8000-00000000000a")).id
    assert store.claim_next("vanished") is not None
    with engine.begin() as conn:  # the lease ran out: nobody renewed it
        conn.execute(jobs_table.update().values(lease_expires_at=0.0))
    woken: list[bool] = []
    notifier = JobNotifier(store, EventBus(), JobPresenter(store, OutputLinks(None)))
    reaper = LeaseReaper(store, notifier, lambda: woken.append(True), lease_seconds=1, max_attempts=2)

    report = reaper.reap()

    assert (report.requeued, woken) == ([job_id], [True])
    record = store.get(job_id)
    assert record is not None and record.status is JobStatus.QUEUED
    assert reaper.reap().requeued == []  # once
