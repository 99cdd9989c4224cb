"""kill -9 of the server: queued jobs stay queued, finished files stay, a running job is retried once."""

from __future__ import annotations

from pathlib import Path

from tests.server import ServerProcess


def test_kill9_of_server_keeps_every_job_and_file(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir).start()
    with server.client() as client:
        finished = server.wait_for(client, server.submit(client, prompt="finished before the crash"))
        assert finished["status"] == "completed"
        running = server.submit(client, steps=10, prompt="running at the crash")  # re-run in full after it
        queued = [server.submit(client, prompt=f"queued {n}") for n in range(3)]
        server.wait_for(client, running, ("processing",))
    server.kill9()
    output = own_data_dir / "outputs" / finished["id"] / "image_0.png"
    assert output.is_file()

    restarted = ServerProcess(own_data_dir).start()
    try:
        with restarted.client() as client:
            after = client.get(f"/api/queue/job/{finished['id']}").json()
            assert after["status"] == "completed" and after["outputs"] == finished["outputs"]
            assert client.get(finished["outputs"][0]["url"]).status_code == 200
            statuses = [client.get(f"/api/queue/job/{j}").json()["status"] for j in queued]
            assert statuses == ["queued"] * 3 or "processing" in statuses  # none lost, none failed
            retried = restarted.wait_for(client, running)
            assert retried["status"] == "completed" and retried["attempts"] == 2
            for job_id in queued:
                assert restarted.wait_for(client, job_id)["status"] == "completed"
    finally:
        restarted.stop()


def test_job_that_dies_with_the_server_twice_is_failed_with_reason(own_data_dir: Path) -> None:
    server = ServerProcess(own_data_dir).start()
    with server.client() as client:
        doomed = server.submit(client, steps=40)
        server.wait_for(client, doomed, ("processing",))
    server.kill9()

    second = ServerProcess(own_data_dir).start()
    with second.client() as client:
        job = second.wait_for(client, doomed, ("processing",))
        assert job["attempts"] == 2
    second.kill9()

    third = ServerProcess(own_data_dir).start()
    try:
        with third.client() as client:
            job = client.get(f"/api/queue/job/{doomed}").json()
            assert job["status"] == "failed"
            assert job["error_code"] == "JOB_INTERRUPTED"
            assert "2 times" in job["error"]
    finally:
        third.stop()


def test_graceful_stop_requeues_running_job_without_counting_an_attempt(own_data_dir: Path) -> None:
    # A grace of 1 s (the harness's is 5 s): the 40-step job outlasts either, the stop waits less.
    server = ServerProcess(own_data_dir, env={"STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "1"}).start()
    with server.client() as client:
        job_id = server.submit(client, steps=40)
        server.wait_for(client, job_id, ("processing",))
    server.stop()  # SIGTERM

    restarted = ServerProcess(own_data_dir).start()
    try:
        with restarted.client() as client:
            job = restarted.wait_for(client, job_id, ("processing", "completed"))
            assert job["attempts"] == 1
            client.post("/api/queue/cancel", json={"job_id": job_id})
    finally:
        restarted.stop()
