"""POST /api/system/restart and SIGTERM: graceful, configuration reloaded, no job lost."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.server import ServerProcess


def _collect_system_events(server: ServerProcess, into: list[dict[str, Any]], stop: threading.Event) -> None:
    with connect(server.url.replace("http://", "ws://") + "/ws") as ws:
        while not stop.is_set():
            try:
                message = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            if message["type"] == "system_update":
                into.append(message["data"])


def test_restart_with_running_and_queued_jobs_loses_nothing_and_reloads_config(own_data_dir: Path) -> None:
    config = own_data_dir / "server.toml"
    config.write_text("[server]\nmax_job_attempts = 3\n")
    # A grace of 1 s: the 12-step job (a load and its steps) does not finish within it, so the
    # restart requeues it; it then runs again in full.
    grace = {"STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "1"}
    server = ServerProcess(own_data_dir, args=["--config", str(config)], env=grace).start()
    events: list[dict[str, Any]] = []
    stop_listening = threading.Event()
    listener = threading.Thread(target=_collect_system_events, args=(server, events, stop_listening))
    listener.start()
    try:
        with server.client() as client:
            assert client.get("/api/config").json()["config"]["max_job_attempts"] == 3
            running = server.submit(client, steps=12, prompt="running at the restart")
            queued = [server.submit(client, prompt=f"queued {n}") for n in range(2)]
            server.wait_for(client, running, ("processing",))
            old_workers = set(server.worker_pids())
            config.write_text("[server]\nmax_job_attempts = 4\n")

            response = client.post("/api/system/restart")
            assert response.status_code == 202
            assert response.json() == {"message": "Server restart initiated", "nodes": []}  # no cluster
            late = server.submit(client, prompt="submitted during the restart")

            for job_id in [running, *queued, late]:
                done = server.wait_for(client, job_id, timeout=300)
                assert done["status"] == "completed", done
            # Interrupted (12 steps outlast the grace) and requeued without counting that start.
            assert client.get(f"/api/queue/job/{running}").json()["attempts"] == 1
            assert client.get("/api/config").json()["config"]["max_job_attempts"] == 4
            assert not old_workers & set(server.worker_pids())  # the workers are new processes
    finally:
        stop_listening.set()
        listener.join(timeout=10)
        server.stop()
    kinds = [event["event"] for event in events]
    assert "restarting" in kinds and "restarted" in kinds
    assert kinds.index("restarting") < kinds.index("restarted")


def test_sigterm_lets_the_running_job_finish_and_keeps_the_queue(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir, env={"STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "120"}).start()
    with server.client() as client:
        running = server.submit(client, steps=3, prompt="running at SIGTERM")
        queued = server.submit(client, prompt="queued at SIGTERM")
        server.wait_for(client, running, ("processing",))
    server.stop()  # SIGTERM; returns when the process has exited
    assert "Application shutdown complete" in server.log_tail()

    restarted = ServerProcess(own_data_dir).start()
    try:
        with restarted.client() as client:
            finished = client.get(f"/api/queue/job/{running}").json()
            assert finished["status"] == "completed" and finished["attempts"] == 1  # finished during the stop
            assert client.get(finished["outputs"][0]["url"]).status_code == 200
            after = restarted.wait_for(client, queued)
            assert after["status"] == "completed" and after["attempts"] == 1
    finally:
        restarted.stop()


def test_sigterm_past_the_grace_requeues_the_job_without_an_attempt(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir, env={"STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "1"}).start()
    with server.client() as client:
        running = server.submit(client, steps=40, prompt="too long for the grace period")
        server.wait_for(client, running, ("processing",))
    server.stop()

    restarted = ServerProcess(own_data_dir).start()
    try:
        with restarted.client() as client:
            job = client.get(f"/api/queue/job/{running}").json()
            assert job["status"] in ("queued", "processing") and job["attempts"] <= 1
            client.post("/api/queue/cancel", json={"job_id": running})
    finally:
        restarted.stop()
