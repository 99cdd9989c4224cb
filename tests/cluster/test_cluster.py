"""Two `sdcpp-rest worker` processes and two `serve --no-workers` API nodes on one real PostgreSQL
database and one shared folder, with the real engine: jobs through both nodes run exactly once and
either node serves them; a WebSocket client of one node sees the progress of a job submitted on the
other; a worker killed or stopped mid-job loses it to the other worker after its lease runs out
(and a stopped worker's late writes are refused); a killed API node loses nothing.

Leases are short here (claim_lease_seconds) so expiries happen within the test; nothing asserts a
duration: each wait is bounded only so that a hung test ends.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.sync.client import ClientConnection, connect

from sdcpp_rest.storage.database import create_database_engine
from tests.cluster_processes import (
    WorkerProcess,
    api_node,
    cluster_env,
    job_row,
    migrated_cluster_database,
    wait_for_row,
)
from tests.server import ServerProcess, prepare_data_dir

LEASE_SECONDS = 3.0
# Long enough to be caught mid-job (the signal follows the first step at once); re-run in full after.
LONG_STEPS = 10
FINAL = {"completed", "failed", "cancelled"}
WAIT_SECONDS = 600


@dataclass
class Cluster:
    db: sa.engine.Engine
    nodes: list[ServerProcess]
    workers: list[WorkerProcess]

    def holder(self, job_id: str) -> WorkerProcess:
        worker_id = str(job_row(self.db, job_id).worker_id)
        return next(w for w in self.workers if worker_id.startswith(f"{w.node}/"))


@contextmanager
def running_cluster(database_url: str, db: sa.engine.Engine, shared_dir: Path) -> Iterator[Cluster]:
    env = cluster_env(database_url, LEASE_SECONDS)
    workers = [WorkerProcess(shared_dir, env, name).start() for name in ("gpu-a", "gpu-b")]
    nodes: list[ServerProcess] = []
    try:
        nodes = [api_node(shared_dir, env), api_node(shared_dir, env)]
        for worker in workers:
            worker.wait_ready(db)
        yield Cluster(db, nodes, workers)
    finally:
        for worker in workers:
            worker.stop()
        for node in nodes:
            node.stop()


@pytest.fixture
def cluster(cluster_db_url: str, cluster_db: sa.engine.Engine, shared_dir: Path) -> Iterator[Cluster]:
    """A cluster of its own, for a test that kills or stops a part of it."""
    with running_cluster(cluster_db_url, cluster_db, shared_dir) as started:
        yield started


@pytest.fixture(scope="module")
def intact_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the tests that leave every process running (a start is four processes)."""
    with migrated_cluster_database() as url:
        db = create_database_engine(url)
        try:
            with running_cluster(url, db, prepare_data_dir(tmp_path_factory.mktemp("shared"))) as started:
                yield started
        finally:
            db.dispose()


def ws_url(node: ServerProcess) -> str:
    return node.url.replace("http://", "ws://") + "/ws"


def job_updates_until_final(ws: ClientConnection, job_ids: set[str]) -> list[dict[str, Any]]:
    """Every job_update until each of `job_ids` had a final status."""
    updates: list[dict[str, Any]] = []
    waiting = set(job_ids)
    deadline = time.monotonic() + WAIT_SECONDS
    while waiting and time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        if message["type"] != "job_update" or message["data"]["job_id"] not in job_ids:
            continue
        updates.append(message["data"])
        if message["data"]["status"] in FINAL:
            waiting.discard(message["data"]["job_id"])
    assert not waiting, f"no final status for {waiting}"
    return updates


def output(node: ServerProcess, job_id: str) -> bytes:
    with node.client() as client:
        response = client.get(f"/api/queue/job/{job_id}/output/image_0.png")
    assert response.status_code == 200, response.text
    return response.content


def test_twenty_jobs_through_both_nodes_run_exactly_once_and_either_node_serves_them(
    intact_cluster: Cluster,
) -> None:
    cluster = intact_cluster
    a, b = cluster.nodes
    with connect(ws_url(a)) as ws, a.client() as client_a, b.client() as client_b:
        ids = [
            node.submit(client, prompt=f"job {i}", seed=i)
            for i in range(10)
            for node, client in ((a, client_a), (b, client_b))
        ]
        updates = job_updates_until_final(ws, set(ids))

    finals = Counter(u["job_id"] for u in updates if u["status"] in FINAL)
    assert finals == Counter({job_id: 1 for job_id in ids})  # one final status each, seen on node A
    rows = [job_row(cluster.db, job_id) for job_id in ids]
    assert [(row.status, row.attempts) for row in rows] == [("completed", 1)] * 20  # each ran once
    assert {str(row.worker_id).split("/")[0] for row in rows} <= {w.node for w in cluster.workers}
    for job_id in ids:
        image = output(a, job_id)
        assert image.startswith(b"\x89PNG") and output(b, job_id) == image


def test_a_websocket_client_on_node_a_sees_the_progress_of_a_job_submitted_on_node_b(
    intact_cluster: Cluster,
) -> None:
    a, b = intact_cluster.nodes
    with connect(ws_url(a)) as ws, b.client() as client_b:
        job_id = b.submit(client_b, steps=4)
        updates = job_updates_until_final(ws, {job_id})

    statuses = [u["status"] for u in updates]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    steps = [u["current_step"] for u in updates if u["status"] == "processing" and u["phase"] == "sampling"]
    # Every step, in order, from a worker process through PostgreSQL (0: the sampling phase began).
    assert steps == [0, 1, 2, 3, 4]


def test_a_worker_killed_mid_job_loses_it_to_the_other_worker_after_its_lease(cluster: Cluster) -> None:
    a, _ = cluster.nodes
    with a.client() as client:
        job_id = a.submit(client, steps=LONG_STEPS)
    wait_for_row(cluster.db, job_id, "sampling")
    victim = cluster.holder(job_id)
    survivor = next(w for w in cluster.workers if w is not victim)

    victim.kill9()

    done = wait_for_row(cluster.db, job_id, "completed")
    assert str(done.worker_id).startswith(f"{survivor.node}/")
    assert done.attempts == 2  # requeued once, after the lease ran out
    assert output(a, job_id).startswith(b"\x89PNG")


def test_a_stopped_worker_loses_its_job_and_its_late_writes_are_refused(cluster: Cluster) -> None:
    a, b = cluster.nodes
    with a.client() as client:
        job_id = a.submit(client, steps=LONG_STEPS)
    wait_for_row(cluster.db, job_id, "sampling")
    sleeper = cluster.holder(job_id)
    other = next(w for w in cluster.workers if w is not sleeper)

    sleeper.signal(signal.SIGSTOP)
    try:
        done = wait_for_row(cluster.db, job_id, "completed")
    finally:
        sleeper.signal(signal.SIGCONT)
    assert str(done.worker_id).startswith(f"{other.node}/") and done.attempts == 2

    # Awake again, the stopped worker finds its claim gone and drops the job, writing nothing.
    deadline = time.monotonic() + WAIT_SECONDS
    while "claim ran out and was taken over" not in sleeper.log_tail(20000):
        assert time.monotonic() < deadline, sleeper.log_tail()
        time.sleep(0.2)
    after = job_row(cluster.db, job_id)
    assert (after.status, after.worker_id, after.attempts, after.outputs, after.finished_at) == (
        "completed",
        done.worker_id,
        2,
        done.outputs,
        done.finished_at,
    )
    assert output(b, job_id).startswith(b"\x89PNG")
    # And it goes on working: the next job can run on it.
    with b.client() as client:
        assert b.wait_for(client, b.submit(client), timeout=WAIT_SECONDS)["status"] == "completed"


def test_an_api_node_killed_loses_nothing_and_the_other_serves_on(cluster: Cluster) -> None:
    a, b = cluster.nodes
    with a.client() as client:
        ids = [a.submit(client, prompt=f"before the crash {i}") for i in range(3)]

    a.kill9()

    with b.client() as client:
        for job_id in ids:  # every job node A accepted runs, seen and served through node B
            assert b.wait_for(client, job_id, timeout=WAIT_SECONDS)["status"] == "completed"
        later = b.submit(client)
        assert b.wait_for(client, later, timeout=WAIT_SECONDS)["status"] == "completed"
        status = client.get("/api/status").json()
    assert all(output(b, job_id).startswith(b"\x89PNG") for job_id in [*ids, later])
    assert status["generation_queue"]["queue_size"] == 0
    assert sorted(w["worker_id"].split("/")[0] for w in status["workers"]) == sorted(
        w.node for w in cluster.workers
    )
