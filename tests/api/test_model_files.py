"""DELETE /api/models/{id}, the trash and restore, and the idle unload, on real servers with the real
engine (random-weight SD1.5) and auth on: an admin and a plain user."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.security_support import bearer, cli, login, rss_mib
from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"
AUTH_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": "1",
}


def start_server(root: Path, **env: str) -> ServerProcess:
    data_dir = root / "data"
    for name in ("sd15.safetensors", "extra.safetensors"):
        link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / name)
    added = cli(data_dir, "users", "add", USER, "--password-stdin", stdin=USER_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    return ServerProcess(data_dir, env={**AUTH_ENV, **env}).start()


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("model-files"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(files_server: ServerProcess) -> Iterator[httpx.Client]:
    token = login(files_server, ADMIN, ADMIN_PASSWORD)
    with httpx.Client(base_url=files_server.url, timeout=300, headers=bearer(token)) as client:
        yield client


@pytest.fixture(scope="module")
def user(files_server: ServerProcess) -> Iterator[httpx.Client]:
    token = login(files_server, USER, USER_PASSWORD)
    with httpx.Client(base_url=files_server.url, timeout=60, headers=bearer(token)) as client:
        yield client


def _checkpoints(client: httpx.Client) -> list[str]:
    reply = client.get("/api/models", params={"type": "checkpoint", "limit": 0})
    return [m["name"] for m in reply.json()["models"]]


def _loaded(client: httpx.Client) -> list[str]:
    return [m["name"] for m in client.get("/api/models", params={"loaded": "true"}).json()["models"]]


def test_delete_of_a_loaded_model_unloads_it_then_restore_brings_it_back(
    files_server: ServerProcess, admin: httpx.Client
) -> None:
    checkpoints = files_server.data_dir / "models" / "checkpoints"
    assert admin.post("/api/models/extra/load").status_code == 200
    assert _loaded(admin) == ["extra.safetensors"]

    reply = admin.delete("/api/models/extra.safetensors")
    assert reply.status_code == 200, reply.text
    entry = reply.json()["entry"]
    assert entry["name"] == "extra.safetensors" and entry["path"] == "checkpoints/extra.safetensors"
    assert entry["size_bytes"] == sd15_model().stat().st_size and entry["purge_at"] > entry["deleted_at"]
    assert _loaded(admin) == [], "the deleted model is still loaded in a worker"
    assert not (checkpoints / "extra.safetensors").exists()
    assert (files_server.data_dir / "models" / ".trash" / entry["id"] / "extra.safetensors").is_file()
    assert "extra.safetensors" not in _checkpoints(admin)
    assert admin.get("/api/models/extra.safetensors").json()["error"]["code"] == "MODEL_NOT_FOUND"
    trash = admin.get("/api/models/trash").json()["entries"]
    assert [e["id"] for e in trash] == [entry["id"]]
    assert all("original_path" not in e and not e["path"].startswith("/") for e in trash)

    restored = admin.post(f"/api/models/trash/{entry['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert (checkpoints / "extra.safetensors").is_file()
    assert "extra.safetensors" in _checkpoints(admin)
    assert admin.get("/api/models/trash").json()["entries"] == []
    again = admin.post(f"/api/models/trash/{entry['id']}/restore")
    assert again.status_code == 404 and again.json()["error"]["code"] == "NOT_FOUND"
    # The restored file generates.
    job = files_server.wait_for(admin, files_server.submit(admin, model_name="extra.safetensors"))
    assert job["status"] == "completed", job


def test_delete_of_a_model_a_queued_job_needs_is_refused_unless_forced(
    files_server: ServerProcess, admin: httpx.Client
) -> None:
    # Long enough that it cannot end before the forced delete below (it is cancelled then): were it
    # to end first, the waiting job would start loading extra.safetensors while it is moved away.
    running = files_server.submit(admin, model_name="sd15.safetensors", steps=150)
    waiting = files_server.submit(admin, model_name="extra.safetensors")
    files_server.wait_for(admin, running, ("processing",))
    assert admin.get(f"/api/queue/job/{waiting}").json()["status"] == "queued"

    refused = admin.delete("/api/models/extra")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "MODEL_IN_USE" and waiting in error["message"]
    assert (files_server.data_dir / "models" / "checkpoints" / "extra.safetensors").is_file()

    forced = admin.delete("/api/models/extra", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    # The delete did not wait for the running job, which uses another model: the worker was still
    # reported holding extra.safetensors while it loaded sd15 for that job, and the delete used to
    # queue an unload behind the whole generation.
    assert admin.get(f"/api/queue/job/{running}").json()["status"] == "processing"
    admin.post("/api/queue/cancel", json={"job_id": running})
    failed = files_server.wait_for(admin, waiting)
    assert failed["status"] == "failed" and failed["error_code"] == "MODEL_NOT_FOUND", failed
    restore = admin.post(f"/api/models/trash/{forced.json()['entry']['id']}/restore")
    assert restore.status_code == 200, restore.text


def test_delete_of_a_model_a_running_job_uses_is_refused_and_forced_cancels_the_job(
    files_server: ServerProcess, admin: httpx.Client
) -> None:
    # Long enough to be running through both deletes (the forced one cancels it).
    running = files_server.submit(admin, model_name="extra.safetensors", steps=150)
    files_server.wait_for(admin, running, ("processing",))

    refused = admin.delete("/api/models/extra")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "MODEL_IN_USE" and running in error["message"]
    assert admin.get(f"/api/queue/job/{running}").json()["status"] == "processing"

    forced = admin.delete("/api/models/extra", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert not (files_server.data_dir / "models" / "checkpoints" / "extra.safetensors").exists()
    ended = files_server.wait_for(admin, running)
    assert ended["status"] == "cancelled", ended
    restore = admin.post(f"/api/models/trash/{forced.json()['entry']['id']}/restore")
    assert restore.status_code == 200, restore.text


def test_restore_refuses_bad_ids_and_a_name_taken_again(
    files_server: ServerProcess, admin: httpx.Client
) -> None:
    climbing = admin.post("/api/models/trash/..%2F..%2Fetc/restore")  # no route has such a path
    assert climbing.status_code in (400, 404, 405) and "error" in climbing.json()
    bad = admin.post("/api/models/trash/not-an-id!/restore")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PARAMETERS"
    unknown = admin.post("/api/models/trash/0123abcd/restore")
    assert unknown.status_code == 404
    escape = admin.delete("/api/models/..%2F..%2Fdb.sqlite")
    assert escape.status_code in (400, 404) and escape.json()["error"]["code"] in (
        "INVALID_PARAMETERS",
        "MODEL_NOT_FOUND",
        "NOT_FOUND",
    )

    entry = admin.delete("/api/models/extra").json()["entry"]
    path = files_server.data_dir / "models" / "checkpoints" / "extra.safetensors"
    path.write_bytes(b"someone put a file of that name back")
    taken = admin.post(f"/api/models/trash/{entry['id']}/restore")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "MODEL_IN_USE"
    assert path.read_bytes() == b"someone put a file of that name back"
    path.unlink()
    assert admin.post(f"/api/models/trash/{entry['id']}/restore").status_code == 200


def test_a_plain_user_gets_403_on_every_model_file_endpoint(
    files_server: ServerProcess, admin: httpx.Client, user: httpx.Client
) -> None:
    entry = admin.delete("/api/models/extra").json()["entry"]
    try:
        answers = [
            user.delete("/api/models/extra"),
            user.delete("/api/models/sd15"),
            user.get("/api/models/trash"),
            user.post(f"/api/models/trash/{entry['id']}/restore"),
        ]
        for reply in answers:
            assert reply.status_code == 403, (reply.request.url, reply.text)
            assert reply.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        assert (files_server.data_dir / "models" / "checkpoints" / "sd15.safetensors").is_file()
    finally:
        assert admin.post(f"/api/models/trash/{entry['id']}/restore").status_code == 200


def test_idle_unload_frees_the_workers_memory_and_the_next_job_loads_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory.mktemp("idle"), STABLE_DIFFUSION_MODEL_IDLE_UNLOAD_SECONDS="3")
    try:
        with server.client() as client:
            client.headers.update(bearer(login(server, ADMIN, ADMIN_PASSWORD)))
            client.timeout = httpx.Timeout(300)
            # A load keeps the model (an explicit load counts as use); RSS measured while it is held.
            assert client.post("/api/models/sd15/load").status_code == 200
            (worker,) = server.worker_pids()
            loaded_mib = rss_mib(worker)
            deadline = time.monotonic() + 120
            while _loaded(client) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _loaded(client) == [], "the idle model was never freed"
            freed_mib = rss_mib(worker)
            # The random SD1.5 weights are ~2 GB as f16 on disk; once freed the worker keeps little.
            assert loaded_mib - freed_mib > 500, (loaded_mib, freed_mib)
            assert server.worker_pids() == [worker], "the worker was replaced, not its model freed"
            job = server.wait_for(client, server.submit(client, model_name="sd15.safetensors"))
            assert job["status"] == "completed", job
            assert "freed" in server.log_tail(20000)
    finally:
        server.stop()
