"""`sdcpp-rest worker` and `sdcpp-rest serve --no-workers` as real processes on a real PostgreSQL:
an API node queues and serves, a worker process runs the job, the cluster's workers are listed, an
API node loads, unloads and restarts the workers of another process, a worker takes only jobs whose
checkpoint it has, and a worker on SQLite is refused."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.cluster_processes import (
    READY_SECONDS,
    WorkerProcess,
    api_node,
    cluster_env,
    job_row,
    wait_for_row,
)
from tests.server import ServerProcess, link_or_copy

LEASE_SECONDS = 3.0


@contextmanager
def api_node_and_worker(
    url: str, database: sa.engine.Engine, shared_dir: Path, name: str
) -> Iterator[tuple[ServerProcess, WorkerProcess]]:
    """An API node and a worker process (ready) on one database and shared folder; both stopped after."""
    env = cluster_env(url, LEASE_SECONDS)
    node = api_node(shared_dir, env)
    worker = WorkerProcess(shared_dir, env, name).start()
    try:
        worker.wait_ready(database)
        yield node, worker
    finally:
        worker.stop()
        node.stop()


def test_an_api_node_queues_and_a_worker_process_runs_the_job(
    cluster_db_url: str, cluster_db: sa.engine.Engine, shared_dir: Path
) -> None:
    with api_node_and_worker(cluster_db_url, cluster_db, shared_dir, "gpu-a") as (node, worker):
        with node.client() as client:
            job_id = node.submit(client)
            done = node.wait_for(client, job_id)
            assert done["status"] == "completed", done
            image = client.get(f"/api/queue/job/{job_id}/output/image_0.png")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            status = client.get("/api/status").json()
            system = client.get("/api/system").json()["system"]

        assert str(job_row(cluster_db, job_id).worker_id).startswith(f"{worker.node}/w")
        (listed,) = status["workers"]
        assert listed["worker_id"] == f"{worker.node}/w0"
        assert (listed["host"], listed["device"]) == (socket.gethostname(), "CPU")
        assert listed["models"] == ["sd15.safetensors"]
        assert listed["status"] in ("idle", "busy") and listed["loaded_model"] == "sd15.safetensors"
        assert status["generation_queue"]["max_concurrent_generations"] == 1
        assert system["workers"] == []  # none in the API node's own process
        assert [w["worker_id"] for w in system["cluster_workers"]] == [listed["worker_id"]]
    with cluster_db.connect() as conn:
        statuses = conn.execute(sa.text("SELECT status FROM workers")).scalars().all()
    assert statuses == ["stopped"]  # it said goodbye


def wait_for_log(worker: WorkerProcess, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while worker.log_tail(1_000_000).count(text) < count:
        assert time.monotonic() < deadline, f"the worker never logged {text!r}: {worker.log_tail()}"
        time.sleep(0.2)


def wait_until_listed_loaded(client: httpx.Client, loaded: bool) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while client.get("/api/models/sd15.safetensors").json()["loaded"] is not loaded:
        assert time.monotonic() < deadline, f"/api/models never showed loaded={loaded}"
        time.sleep(0.2)


def test_an_api_node_loads_unloads_and_restarts_the_workers_of_other_processes(
    cluster_db_url: str, cluster_db: sa.engine.Engine, shared_dir: Path
) -> None:
    with api_node_and_worker(cluster_db_url, cluster_db, shared_dir, "gpu-d") as (node, worker):
        with node.client() as client:
            loaded = client.post("/api/models/sd15.safetensors/load")
            assert loaded.status_code == 200, loaded.text
            assert loaded.json()["worker_ids"] == [f"{worker.node}/w0"]
            assert loaded.json()["seconds"] > 0
            # The API node's catalog shows it loaded (from the worker's heartbeat).
            wait_until_listed_loaded(client, True)

            unloaded = client.post("/api/models/sd15.safetensors/unload")
            assert unloaded.status_code == 200, unloaded.text
            assert unloaded.json()["worker_ids"] == [f"{worker.node}/w0"]
            wait_until_listed_loaded(client, False)
            again = client.post("/api/models/sd15.safetensors/unload")
            assert again.status_code == 409 and again.json()["error"]["code"] == "MODEL_NOT_LOADED"

            restart = client.post("/api/system/restart")
            assert restart.status_code == 202 and restart.json()["nodes"] == [worker.node]
            wait_for_log(worker, "restart: done")
            worker.wait_ready(cluster_db)
            # The restarted worker runs jobs, and still answers the API node.
            job_id = node.submit(client)
            assert node.wait_for(client, job_id)["status"] == "completed"
            assert client.post("/api/models/sd15.safetensors/unload").status_code == 200
        with cluster_db.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM worker_commands")).scalar() == 1  # the restart


def test_a_worker_takes_only_jobs_whose_checkpoint_it_has(
    cluster_db_url: str, cluster_db: sa.engine.Engine, shared_dir: Path, tmp_path: Path
) -> None:
    env = cluster_env(cluster_db_url, LEASE_SECONDS)
    # The API node knows two checkpoints; the worker's own models folder has only one of them.
    checkpoints = shared_dir / "models" / "checkpoints"
    link_or_copy(checkpoints / "sd15.safetensors", checkpoints / "other.safetensors")
    worker_models = tmp_path / "worker-models"
    link_or_copy(checkpoints / "sd15.safetensors", worker_models / "checkpoints" / "sd15.safetensors")
    node = api_node(shared_dir, env)
    worker = WorkerProcess(shared_dir, env, "gpu-b", models_dir=worker_models).start()
    try:
        worker.wait_ready(cluster_db)
        with node.client() as client:
            other = node.submit(client, model_name="other.safetensors")
            mine = node.submit(client, model_name="sd15.safetensors")
            assert node.wait_for(client, mine)["status"] == "completed"
        # Queued first, still queued: the worker passed over the job it cannot run.
        row = job_row(cluster_db, other)
        assert (row.status, row.attempts, row.worker_id) == ("queued", 0, None)

        # A second worker that has it takes it.
        second = WorkerProcess(shared_dir, env, "gpu-c").start()
        try:
            done = wait_for_row(cluster_db, other, "completed")
            assert str(done.worker_id).startswith(f"{second.node}/")
        finally:
            second.stop()
    finally:
        worker.stop()
        node.stop()


def test_a_worker_on_sqlite_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "worker", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "needs a PostgreSQL database_url" in result.stderr
