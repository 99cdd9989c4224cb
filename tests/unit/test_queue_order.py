"""The scheduling policies on a real store (SQLite and PostgreSQL): fifo by arrival, fair by recent
engine time."""

from __future__ import annotations

import time
import uuid

from sqlalchemy.engine import Engine

from sdcpp_rest.jobs.queue_order import FairOrder, FifoOrder, QueuedJob
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.tables import jobs_table
from tests.unit.conftest import text2img_job


def _queue(store: SqlJobStore, owners: list[str]) -> list[str]:
    return [store.add(text2img_job(str(uuid.uuid4()), owner=owner)).id for owner in owners]


def test_fair_order_takes_the_user_with_least_engine_time_first() -> None:
    queued = [
        QueuedJob("a1", 1, "a"),
        QueuedJob("a2", 2, "a"),
        QueuedJob("a3", 3, "a"),
        QueuedJob("b1", 4, "b"),
    ]
    assert FairOrder().order(queued, {"a": 5.0}, job_seconds=2.0) == ["b1", "a1", "a2", "a3"]
    # No history: arrival breaks the tie, then the users alternate.
    assert FairOrder().order(queued, {}, job_seconds=2.0) == ["a1", "b1", "a2", "a3"]
    assert FifoOrder().order(queued, {"a": 5.0}, job_seconds=2.0) == ["a1", "a2", "a3", "b1"]


def test_fifo_store_claims_in_arrival_order_whoever_queued(store: SqlJobStore) -> None:
    ids = _queue(store, ["a", "a", "a", "b"])
    assert store.queue_positions() == {job_id: place + 1 for place, job_id in enumerate(ids)}
    claimed = store.claim_next("w0")
    assert claimed is not None and claimed.id == ids[0]
    assert store.complete(ids[0], [])
    claimed = store.claim_next("w0")
    assert claimed is not None and claimed.id == ids[1]  # b waits behind all of a's jobs


def test_fair_store_runs_the_other_users_job_after_one_of_the_first(engine: Engine) -> None:
    store = SqlJobStore(engine, FairOrder(), fair_share_window_s=3600)
    a1, a2, a3, b1 = _queue(store, ["a", "a", "a", "b"])
    first = store.claim_next("w0")
    assert first is not None and first.id == a1  # nobody has run anything: arrival order
    with engine.begin() as conn:  # a1 ran for ten seconds
        conn.execute(jobs_table.update().where(jobs_table.c.id == a1).values(started_at=time.time() - 10))
    assert store.complete(a1, [])
    assert list(store.queue_positions()) == [b1, a2, a3]  # positions follow the policy
    second = store.claim_next("w0")
    assert second is not None and second.id == b1
