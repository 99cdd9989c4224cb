"""The dispatcher on a real store (SQLite and PostgreSQL): which idle slot takes the next job."""

from __future__ import annotations

import uuid

from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.scheduler.dispatch import Dispatcher
from sdcpp_rest.jobs.store import SqlJobStore
from tests.unit.conftest import text2img_job


def _path_of(job: JobRecord) -> str:
    return f"/models/{job.model_name}"


def test_the_slot_holding_the_jobs_model_takes_it(store: SqlJobStore) -> None:
    dispatcher = Dispatcher(store, _path_of)
    dispatcher.wait("w0", "/models/a.safetensors", timeout=0)  # w0 idle, holding a
    job = store.add(text2img_job(str(uuid.uuid4()), model_name="b.safetensors"))
    dispatcher.wait("w1", "/models/b.safetensors", timeout=0)
    assert dispatcher.claim_for("w0", "/models/a.safetensors") is None  # w1 holds b: it is w1's
    claimed = dispatcher.claim_for("w1", "/models/b.safetensors")
    assert claimed is not None and claimed.id == job.id and claimed.worker_id == "w1"


def test_without_a_holder_an_empty_slot_takes_it_then_any(store: SqlJobStore) -> None:
    dispatcher = Dispatcher(store, _path_of)
    dispatcher.wait("w0", "/models/a.safetensors", timeout=0)
    dispatcher.wait("w1", None, timeout=0)
    first = store.add(text2img_job(str(uuid.uuid4()), model_name="c.safetensors"))
    assert dispatcher.claim_for("w0", "/models/a.safetensors") is None
    claimed = dispatcher.claim_for("w1", None)
    assert claimed is not None and claimed.id == first.id  # nothing to drop on w1
    second = store.add(text2img_job(str(uuid.uuid4()), model_name="c.safetensors"))
    claimed = dispatcher.claim_for("w0", "/models/a.safetensors")  # the only idle slot left
    assert claimed is not None and claimed.id == second.id


def test_a_slot_that_leaves_is_not_chosen(store: SqlJobStore) -> None:
    dispatcher = Dispatcher(store, _path_of)
    dispatcher.wait("w0", "/models/d.safetensors", timeout=0)
    dispatcher.leave("w0")  # its worker is restarting, say
    job = store.add(text2img_job(str(uuid.uuid4()), model_name="d.safetensors"))
    claimed = dispatcher.claim_for("w1", "/models/e.safetensors")
    assert claimed is not None and claimed.id == job.id
