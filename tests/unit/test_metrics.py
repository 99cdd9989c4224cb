"""ServerMetrics and its listener on the event bus (job changes published by the real notifier over a
real SQLite store); the text output parses."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sdcpp_rest.cluster.event_codec import decode, encode
from sdcpp_rest.engine.protocol import JobTimings
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import ModelLoaded, WorkerCrashed, WorkerStarted
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.public import JobPresenter
from sdcpp_rest.jobs.records import JobPhase
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.monitoring.listener import MetricsListener
from sdcpp_rest.monitoring.metrics import QueueGauges, ServerMetrics
from sdcpp_rest.outputs.signing import OutputLinks
from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.unit.conftest import text2img_job


def samples(metrics: ServerMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _store(tmp_path: Path) -> SqlJobStore:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    return SqlJobStore(engine)


def _completed_job(store: SqlJobStore, model: str = "sub/sd15.safetensors") -> str:
    job_id = str(uuid.uuid4())
    store.add(text2img_job(job_id, model_name=model, total_steps=4))
    assert store.claim_next("w0") is not None
    store.update_progress(job_id, phase=JobPhase.SAMPLING, current_step=4, total_steps=4, step_seconds=0.2)
    assert store.complete(job_id, ["image_0.png"], JobTimings(0.5, 0.1, 0.8, 0.2))
    return job_id


def test_two_apps_in_one_process_have_separate_registries(tmp_path: Path) -> None:
    first, second = ServerMetrics(), ServerMetrics()
    first.record_request("GET", "/api/health", 200, 0.01)
    labels = frozenset({("method", "GET"), ("route", "/api/health"), ("status", "200")})
    assert samples(first)[("sdcpp_rest_http_requests_total", labels)] == 1
    assert not any(name == "sdcpp_rest_http_requests_total" for name, _ in samples(second))


def _notifier(store: SqlJobStore, metrics: ServerMetrics) -> tuple[JobNotifier, EventBus]:
    bus = EventBus()
    MetricsListener(metrics, bus)
    return JobNotifier(store, bus, JobPresenter(store, OutputLinks(None))), bus


def test_a_finished_job_is_counted_once_with_its_model_mode_and_steps(tmp_path: Path) -> None:
    store, metrics = _store(tmp_path), ServerMetrics()
    metrics.track(QueueGauges(store, lambda: 0))
    notifier, _bus = _notifier(store, metrics)
    job_id = _completed_job(store)
    for _ in range(3):  # the scheduler may tell of the same end more than once
        notifier.job_changed(job_id)
    found = samples(metrics)
    labels = frozenset({("model", "sd15.safetensors"), ("mode", "text2img")})
    assert found[("sdcpp_rest_generation_seconds_count", labels)] == 1
    assert found[("sdcpp_rest_step_seconds_count", frozenset({("model", "sd15.safetensors")}))] == 1
    assert found[("sdcpp_rest_sampling_steps_total", frozenset({("model", "sd15.safetensors")}))] == 4
    assert found[("sdcpp_rest_jobs_run_total", frozenset({("status", "completed")}))] == 1
    assert found[("sdcpp_rest_jobs", frozenset({("state", "completed")}))] == 1
    assert found[("sdcpp_rest_jobs", frozenset({("state", "queued")}))] == 0
    assert found[("sdcpp_rest_queue_length", frozenset())] == 0


def test_worker_restarts_crashes_and_model_loads_are_counted(tmp_path: Path) -> None:
    store, metrics = _store(tmp_path), ServerMetrics()
    notifier, _bus = _notifier(store, metrics)
    notifier.system(WorkerStarted(worker_id="w0", pid=1))
    notifier.system(WorkerStarted(worker_id="w1", pid=2))
    notifier.system(WorkerCrashed(worker_id="w0", job_id=None, reason="was killed"))
    notifier.system(WorkerStarted(worker_id="w0", pid=3))
    notifier.system(ModelLoaded(worker_id="w1", model="/models/checkpoints/a.gguf", seconds=2.5))
    found = samples(metrics)
    assert found[("sdcpp_rest_worker_starts_total", frozenset())] == 3
    assert found[("sdcpp_rest_worker_restarts_total", frozenset())] == 1
    assert found[("sdcpp_rest_worker_crashes_total", frozenset())] == 1
    assert found[("sdcpp_rest_model_load_seconds_count", frozenset({("model", "a.gguf")}))] == 1
    assert found[("sdcpp_rest_model_load_seconds_sum", frozenset({("model", "a.gguf")}))] == 2.5


def test_what_another_node_relayed_is_left_to_that_node(tmp_path: Path) -> None:
    """Job ends and worker events that arrive from another node (decoded as the relay does) are
    counted there, not here: each node's /metrics counts its own work once."""
    store, metrics = _store(tmp_path), ServerMetrics()
    other_store, other_metrics = _store(tmp_path / "other"), ServerMetrics()
    other_notifier, other_bus = _notifier(other_store, other_metrics)
    _notifier_here, bus = _notifier(store, metrics)
    sent: list[str] = []
    other_bus.add_listener(lambda event: sent.append(encode(event) or ""))
    other_notifier.job_changed(_completed_job(other_store))
    other_notifier.system(WorkerStarted(worker_id="gpu-b/w0", pid=1))
    for text in filter(None, sent):
        bus.publish(decode(text))
    assert samples(other_metrics)[("sdcpp_rest_worker_starts_total", frozenset())] == 1
    found = samples(metrics)
    assert found[("sdcpp_rest_worker_starts_total", frozenset())] == 0
    assert not any(name == "sdcpp_rest_generation_seconds_count" for name, _ in found)
