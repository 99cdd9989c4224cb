"""Issue 27: a PostgreSQL restart (an upgrade, a failover, a managed service's maintenance) while an API
node and a worker process run on it. Every loop of both processes lives through it: the jobs accepted
before and after the restart all complete, each once; requests during the outage answer 503 with
Retry-After; the worker shows online again. The server is a throw-away one started by the test (the
machine's shared server is never restarted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.cluster_processes import READY_SECONDS, WorkerProcess, api_node, cluster_env, job_row, wait_for_row
from tests.server import prepare_data_dir
from tests.throwaway_postgres import ThrowawayPostgres, ThrowawayUnavailable

LEASE_SECONDS = 3.0
BODY = {"prompt": "a test", "width": 64, "height": 64, "steps": 1}


@pytest.fixture
def restartable_postgres() -> Iterator[ThrowawayPostgres]:
    try:
        server = ThrowawayPostgres().create()
    except ThrowawayUnavailable as exc:
        pytest.skip(f"no throw-away PostgreSQL server can run here: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def wait_worker_online(client: httpx.Client) -> dict[str, object]:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        response = client.get("/api/status")
        if response.status_code == 200:
            workers = response.json()["workers"]
            if workers and workers[0]["status"] in ("idle", "busy"):
                return dict(workers[0])
        assert time.monotonic() < deadline, f"the worker never showed online again: {response.text}"
        time.sleep(0.2)


def test_every_job_completes_once_across_a_postgres_restart(
    restartable_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = restartable_postgres.url
    database = create_database_engine(url)
    migrate(database)
    shared_dir = prepare_data_dir(tmp_path / "shared")
    env = cluster_env(url, LEASE_SECONDS)
    node = api_node(shared_dir, env)
    worker = WorkerProcess(shared_dir, env, "gpu-a").start()
    try:
        worker.wait_ready(database)
        with node.client() as client:
            first = node.submit(client)
            assert node.wait_for(client, first)["status"] == "completed"
            # A longer job runs when the server goes away; two more wait behind it.
            before = [node.submit(client, steps=6), node.submit(client), node.submit(client)]
            wait_for_row(database, before[0], "sampling")

            restartable_postgres.stop()
            submitted = client.post("/api/generate/text2img", json=BODY)
            polled = client.get(f"/api/queue/job/{first}")
            # Down longer than a lease: the worker's renewals and claims fail meanwhile (the issue's
            # worker went idle for good after such an outage).
            time.sleep(LEASE_SECONDS + 2)
            restartable_postgres.start()

            after = [node.submit(client), node.submit(client)]
            for job_id in (*before, *after):
                done = node.wait_for(client, job_id, timeout=READY_SECONDS)
                assert done["status"] == "completed", (done, worker.log_tail())
            assert wait_worker_online(client)["worker_id"] == f"{worker.node}/w0"
            for response in (submitted, polled):
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) > 0
                assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        worker.stop()
        node.stop()
        log = worker.log_tail(1_000_000)
        database.dispose()
    for job_id in (first, *before, *after):
        # Completed once: one completion written, one image; an interrupted run of the long job may
        # have been requeued by its lease (a second attempt), never completed twice.
        assert log.count(f"job {job_id} completed") == 1, log[-5000:]
        assert job_row(database, job_id).outputs.count("image_0.png") == 1
