"""Queue behaviour end to end: FIFO, cancel (queued and running), clear, worker crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.server import ServerProcess


def test_three_jobs_run_in_fifo_order(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir).start()
    try:
        with server.client() as client:
            ids = [server.submit(client, steps=2, prompt=f"job {n}") for n in range(3)]
            completion_order: list[str] = []
            saw_positions = False
            deadline = time.monotonic() + 240
            while len(completion_order) < 3 and time.monotonic() < deadline:
                jobs = {job["id"]: job for job in client.get("/api/queue/status").json()["queue"]["jobs"]}
                processing = [i for i in ids if jobs[i]["status"] == "processing"]
                assert len(processing) <= 1  # one worker: one job at a time
                if processing == [ids[0]] and jobs[ids[1]]["status"] == "queued":
                    assert (jobs[ids[1]]["position"], jobs[ids[2]]["position"]) == (1, 2)
                    saw_positions = True
                completion_order += [
                    i for i in ids if jobs[i]["status"] == "completed" and i not in completion_order
                ]
                time.sleep(0.05)
            assert completion_order == ids
            assert saw_positions
    finally:
        server.stop()


def test_cancel_of_queued_job_removes_it_from_the_line(server: ServerProcess, client: httpx.Client) -> None:
    first = server.submit(client, steps=4)
    second = server.submit(client, steps=1)
    third = server.submit(client, steps=1)
    reply = client.post("/api/queue/cancel", json={"job_id": second})
    assert reply.status_code == 200 and reply.json()["status"] == "success"
    assert client.get(f"/api/queue/job/{second}").json()["status"] == "cancelled"
    assert server.wait_for(client, third)["status"] == "completed"
    assert server.wait_for(client, first)["status"] == "completed"
    assert client.get(f"/api/queue/job/{second}").json()["outputs"] == []
    again = client.post("/api/queue/cancel", json={"job_id": second})
    assert again.status_code == 409 and again.json()["error"]["code"] == "JOB_NOT_CANCELLABLE"


def test_cancel_of_running_job_frees_worker_and_next_job_runs(
    server: ServerProcess, client: httpx.Client
) -> None:
    running = server.submit(client, steps=30)
    following = server.submit(client, steps=1)
    server.wait_for(client, running, ("processing",))
    pids_before = server.worker_pids()
    reply = client.post("/api/queue/cancel", json={"job_id": running})
    assert reply.status_code == 200
    assert server.wait_for(client, running)["status"] == "cancelled"
    assert server.wait_for(client, following)["status"] == "completed"
    pids_after = server.worker_pids()
    assert pids_after and not set(pids_before) & set(pids_after), "the worker process was not replaced"


def test_clear_removes_all_queued_jobs(server: ServerProcess, client: httpx.Client) -> None:
    running = server.submit(client, steps=3)
    queued = [server.submit(client, steps=1) for _ in range(3)]
    server.wait_for(client, running, ("processing",))
    reply = client.post("/api/queue/clear")
    assert reply.status_code == 200 and reply.json()["cleared"] == 3
    assert all(client.get(f"/api/queue/job/{j}").json()["status"] == "cancelled" for j in queued)
    assert client.get("/api/queue/status").json()["queue"]["size"] == 0
    assert server.wait_for(client, running)["status"] == "completed"


def test_killed_worker_fails_its_job_and_server_keeps_serving(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir).start()
    try:
        with server.client() as client:
            victim = server.submit(client, steps=30)
            server.wait_for(client, victim, ("processing",))
            (worker,) = server.worker_pids()
            os.kill(worker, signal.SIGKILL)
            job = server.wait_for(client, victim)
            assert job["status"] == "failed"
            assert job["error_code"] == "WORKER_CRASHED"
            assert "SIGKILL" in job["error"]
            assert client.get("/api/health").json()["status"] == "healthy"
            assert server.wait_for(client, server.submit(client))["status"] == "completed"
    finally:
        server.stop()


def test_crashing_model_file_fails_the_job_with_the_reason(own_data_dir: Path) -> None:
    # The engine segfaults on a file that is not a model (ENGINE_NOTES.md): the server must survive it.
    (own_data_dir / "models" / "checkpoints" / "broken.safetensors").write_bytes(b"not a model at all")
    server = ServerProcess(own_data_dir).start()
    try:
        with server.client() as client:
            job = server.wait_for(client, server.submit(client, model_name="broken.safetensors"))
            assert job["status"] == "failed"
            assert job["error_code"] in {"WORKER_CRASHED", "MODEL_LOAD_FAILED"}
            assert "broken.safetensors" in job["error"]
            assert str(own_data_dir) not in job["error"]  # file names only, no server paths
            good = server.wait_for(client, server.submit(client, model_name="sd15.safetensors"))
            assert good["status"] == "completed"
    finally:
        server.stop()
