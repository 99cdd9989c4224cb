"""GET /metrics against a real server: token protection, and counts of what really happened."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server import ServerProcess

METRICS_TOKEN = "scrape-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.server import prepare_data_dir

    data_dir: Path = prepare_data_dir(tmp_path_factory.mktemp("metrics-server"))
    server = ServerProcess(data_dir, env={"STABLE_DIFFUSION_METRICS_TOKEN": METRICS_TOKEN}).start()
    yield server
    server.stop()


def scrape(server: ServerProcess) -> Samples:
    with server.client() as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples: Samples, route: str, status: str) -> float:
    labels = frozenset({("method", "GET"), ("route", route), ("status", status)})
    return samples.get(("sdcpp_rest_http_requests_total", labels), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


def test_metrics_need_the_token_when_one_is_set(metrics_server: ServerProcess) -> None:
    with metrics_server.client() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "AUTH_REQUIRED"
    scrape(metrics_server)


def test_public_without_a_token(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 200 and "sdcpp_rest_jobs" in response.text


def test_metrics_count_jobs_requests_and_worker_restarts(metrics_server: ServerProcess) -> None:
    with metrics_server.client() as client:
        job_id = metrics_server.submit(client)
        assert metrics_server.wait_for(client, job_id)["status"] == "completed"
        missing = client.get(f"/api/queue/job/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert client.get("/no/such/path").status_code == 404
        # Cancel a running job: its worker is killed and replaced, a worker restart.
        long_job = metrics_server.submit(client, steps=150, width=128, height=128)
        metrics_server.wait_for(client, long_job, statuses=("processing",))
        assert client.post("/api/queue/cancel", json={"job_id": long_job}).status_code == 200
        metrics_server.wait_for(client, long_job)
    samples = _scrape_until(metrics_server, lambda s: total(s, "sdcpp_rest_worker_restarts_total") >= 1)

    assert total(samples, "sdcpp_rest_jobs", state="completed") == 1
    assert total(samples, "sdcpp_rest_jobs", state="cancelled") == 1
    assert total(samples, "sdcpp_rest_queue_length") == 0
    assert total(samples, "sdcpp_rest_jobs_run_total", status="completed") == 1
    assert total(samples, "sdcpp_rest_jobs_run_total", status="cancelled") == 1
    assert total(samples, "sdcpp_rest_generation_seconds_count", model="sd15.safetensors") == 1
    assert total(samples, "sdcpp_rest_generation_seconds_sum", model="sd15.safetensors") > 0
    assert total(samples, "sdcpp_rest_step_seconds_count", model="sd15.safetensors") == 1
    assert total(samples, "sdcpp_rest_sampling_steps_total", model="sd15.safetensors") == 1
    assert total(samples, "sdcpp_rest_model_load_seconds_count", model="sd15.safetensors") >= 1
    assert total(samples, "sdcpp_rest_worker_starts_total") >= 2
    assert total(samples, "sdcpp_rest_worker_restarts_total") == 1

    # Requests are labelled with the route template, never the raw path.
    assert requests_of(samples, "/api/queue/job/{job_id}", "200") >= 1
    assert requests_of(samples, "/api/queue/job/{job_id}", "404") == 1
    assert requests_of(samples, "unmatched", "404") == 1
    assert total(samples, "sdcpp_rest_http_requests_total", route="/api/generate/text2img", status="202") == 2
    routes = {dict(labels).get("route", "") for (_name, labels) in samples}
    assert not any(job_id in route or long_job in route for route in routes)


def _scrape_until(server: ServerProcess, ready: object, timeout: float = 30) -> Samples:
    """The replacement worker starts right after the cancel; give it a moment to be counted."""
    assert callable(ready)
    deadline = time.monotonic() + timeout
    samples = scrape(server)
    while not ready(samples) and time.monotonic() < deadline:
        time.sleep(0.2)
        samples = scrape(server)
    return samples


def test_metrics_parse_and_list_every_family(metrics_server: ServerProcess) -> None:
    with httpx.Client(base_url=metrics_server.url) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "sdcpp_rest_jobs",
        "sdcpp_rest_queue_length",
        "sdcpp_rest_active_generations",
        "sdcpp_rest_generation_seconds",
        "sdcpp_rest_step_seconds",
        "sdcpp_rest_model_load_seconds",
        "sdcpp_rest_worker_restarts",
        "sdcpp_rest_http_requests",
    } <= names
