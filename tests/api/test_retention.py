"""DELETE /api/queue/job/{jobId} and the periodic output retention, against real servers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.test_auth import ADMIN, ADMIN_PASSWORD, AUTH_ENV, bearer, cli, login
from tests.server import ServerProcess, prepare_data_dir

BOB, CAROL = ("bob", "bob-password-1"), ("carol", "carol-password-1")
BYTES_PER_MB = 1024 * 1024


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_delete_removes_a_finished_job_for_its_owner_or_an_admin_only(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path)
    for name, password in (BOB, CAROL):
        added = cli(
            data_dir, "users", "add", name, "--role", "user", "--password-stdin", stdin=password + "\n"
        )
        assert added.returncode == 0, added.stderr
    server = ServerProcess(data_dir, env=AUTH_ENV).start()
    try:
        _check_delete(server)
    finally:
        server.stop()


def _check_delete(server: ServerProcess) -> None:
    bob, carol = bearer(login(server, *BOB)), bearer(login(server, *CAROL))
    admin = bearer(login(server, ADMIN, ADMIN_PASSWORD))
    outputs = server.data_dir / "outputs"
    with server.client() as client:
        client.headers.update(bob)
        mine = server.submit(client)
        assert server.wait_for(client, mine)["status"] == "completed"
        assert (outputs / mine / "image_0.png").is_file()
        assert client.delete(f"/api/queue/job/{mine}", headers={"Authorization": ""}).status_code == 401
        refused = client.delete(f"/api/queue/job/{mine}", headers=carol)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "JOB_NOT_FOUND"
        deleted = client.delete(f"/api/queue/job/{mine}")
        assert deleted.status_code == 200 and deleted.json()["job_id"] == mine
        assert not (outputs / mine).exists()
        assert client.get(f"/api/queue/job/{mine}").status_code == 404
        assert client.get(f"/api/queue/job/{mine}/output/image_0.png").status_code == 404
        assert client.delete(f"/api/queue/job/{mine}").status_code == 404

        # Queued and running jobs cannot be deleted, not even by an admin.
        blocker = server.submit(client, steps=150, width=128, height=128)
        waiting = server.submit(client)
        server.wait_for(client, blocker, statuses=("processing",))
        for job_id in (waiting, blocker):
            conflict = client.delete(f"/api/queue/job/{job_id}", headers=admin)
            assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "JOB_NOT_FINISHED"
        for job_id in (waiting, blocker):
            assert client.post("/api/queue/cancel", json={"job_id": job_id}).status_code == 200
            server.wait_for(client, job_id)
        assert client.delete(f"/api/queue/job/{blocker}", headers=admin).status_code == 200
        assert client.get(f"/api/queue/job/{blocker}").status_code == 404


def test_retention_removes_exactly_the_oldest_finished_jobs(own_data_dir: Path) -> None:
    outputs = own_data_dir / "outputs"
    first_run = ServerProcess(own_data_dir).start()
    try:
        with first_run.client() as client:
            jobs = []
            for _ in range(4):
                jobs.append(first_run.submit(client))
                assert first_run.wait_for(client, jobs[-1])["status"] == "completed"
    finally:
        first_run.stop()
    sizes = [_folder_bytes(outputs / job_id) for job_id in jobs]
    # Room for everything but the two oldest, with a little slack (less than any one job's files).
    limit = _folder_bytes(outputs) - sizes[0] - sizes[1] + min(sizes) // 2
    env = {
        "STABLE_DIFFUSION_OUTPUT_MAX_TOTAL_MB": f"{limit / BYTES_PER_MB:.9f}",
        "STABLE_DIFFUSION_OUTPUT_CLEANUP_INTERVAL_S": "0.3",
    }
    second_run = ServerProcess(own_data_dir, env=env).start()
    try:
        with second_run.client() as client:
            deadline = time.monotonic() + 30
            while _exists(client, jobs[1]) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # a few more runs: nothing else may go
            assert [_exists(client, job_id) for job_id in jobs] == [False, False, True, True]
    finally:
        second_run.stop()
    assert [(outputs / job_id).exists() for job_id in jobs] == [False, False, True, True]
    assert _folder_bytes(outputs) <= limit


def _exists(client: httpx.Client, job_id: str) -> bool:
    status = client.get(f"/api/queue/job/{job_id}").status_code
    assert status in (200, 404)
    return status == 200
