"""POST /api/estimate, GET /api/system, GET /api/config and structured logs, against a real server
configured with secrets (which must never show in a reply or in the log)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.server import ServerProcess, prepare_data_dir

JWT_SECRET = "jwt-secret-3f9c1e7a55d24b8e9d0c"
ADMIN_PASSWORD = "admin-password-8b2d4f6a"
SECRETS_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
    "STABLE_DIFFUSION_JWT_SECRET": JWT_SECRET,
    "STABLE_DIFFUSION_ADMIN_USERNAME": "admin",
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STABLE_DIFFUSION_LOG_FORMAT": "json",
    "STABLE_DIFFUSION_VERBOSE": "true",  # access log lines: they carry the request id and the user
}
TINY = {"prompt": "a test", "width": 64, "height": 64, "steps": 1}


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(prepare_data_dir(tmp_path_factory.mktemp("ops-server")), env=SECRETS_ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(ops_server: ServerProcess) -> Iterator[httpx.Client]:
    with ops_server.client() as client:
        response = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['token']}"
        yield client


def test_estimate_basis_moves_from_default_to_measured_and_scaled(
    ops_server: ServerProcess, admin: httpx.Client
) -> None:
    before = admin.post("/api/estimate", json=TINY).json()
    assert before["basis"] == "default" and before["history_jobs"] == 0
    assert before["model_loaded"] is False and before["breakdown"]["load_seconds"] > 0
    assert before["memory"]["basis"] == "default" and before["memory"]["peak_bytes"] > 0
    parts = before["breakdown"]
    assert before["estimated_seconds"] == pytest.approx(sum(parts.values()), abs=0.01)

    job = ops_server.wait_for(admin, ops_server.submit(admin, **TINY))
    assert job["status"] == "completed"

    same = admin.post("/api/estimate", json=TINY).json()
    assert same["basis"] == "measured" and same["history_jobs"] == 1
    assert same["model_loaded"] is True and same["breakdown"]["load_seconds"] == 0
    assert same["memory"]["basis"] == "measured"
    assert same["seconds_per_step"] > 0 and same["breakdown"]["decode_seconds"] > 0
    bigger = admin.post("/api/estimate", json={**TINY, "width": 128, "height": 128, "steps": 2}).json()
    assert bigger["basis"] == "scaled"
    assert bigger["breakdown"]["sampling_seconds"] > same["breakdown"]["sampling_seconds"]
    # Hires fix: the first pass as for TINY, plus 2 steps at 128x128, decoded at 128x128.
    hires = {**TINY, "hires": {"scale": 2, "steps": 2}}
    with_hires = admin.post("/api/estimate", json=hires).json()
    first_pass = same["seconds_per_step"] * TINY["steps"]
    second_pass = bigger["seconds_per_step"] * 2
    assert with_hires["breakdown"]["sampling_seconds"] == pytest.approx(first_pass + second_pass, rel=0.01)
    assert with_hires["breakdown"]["decode_seconds"] == pytest.approx(bigger["breakdown"]["decode_seconds"])


def test_estimate_counts_the_jobs_ahead(ops_server: ServerProcess, admin: httpx.Client) -> None:
    running = ops_server.submit(admin, **{**TINY, "steps": 20})
    queued = ops_server.submit(admin, **TINY)
    try:
        ops_server.wait_for(admin, running, ("processing",))
        estimate = admin.post("/api/estimate", json=TINY).json()
        assert estimate["jobs_ahead"] >= 1
        assert estimate["breakdown"]["queue_wait_seconds"] > 0
    finally:
        for job_id in (queued, running):
            admin.post("/api/queue/cancel", json={"job_id": job_id})


def test_estimate_refuses_what_text2img_refuses(admin: httpx.Client) -> None:
    response = admin.post("/api/estimate", json={**TINY, "width": 7})
    assert response.status_code in (400, 422)
    missing = admin.post("/api/estimate", json={**TINY, "model_name": "no-such-model.safetensors"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MODEL_NOT_FOUND"


def test_system_reports_machine_engine_and_workers(ops_server: ServerProcess, admin: httpx.Client) -> None:
    ops_server.wait_for(admin, ops_server.submit(admin, **TINY))  # a worker has started and loaded
    system = admin.get("/api/system").json()["system"]
    assert system["cpu"]["cores"] >= 1 and system["cpu"]["usable_cores"] >= 1
    assert system["memory"]["total_bytes"] > system["memory"]["free_bytes"] > 0
    assert system["disk"]["models"]["free_bytes"] > 0 and system["disk"]["outputs"]["free_bytes"] > 0
    assert isinstance(system["gpus"], list)
    assert "AVX" in system["engine"]["system_info"] or system["engine"]["features"]
    (worker,) = system["workers"]
    assert worker["alive"] and worker["pid"] in ops_server.worker_pids()
    assert worker["loaded_model"] == "sd15.safetensors"
    assert worker["resident_memory_bytes"] > 100 * 1024 * 1024  # it holds a model of about 2 GB
    assert system["server"]["pid"] == ops_server.process.pid  # type: ignore[union-attr]


def test_config_is_the_effective_settings_with_secrets_redacted(admin: httpx.Client) -> None:
    response = admin.get("/api/config")
    config = response.json()["config"]
    assert config["log_format"] == "json" and config["auth_method"] == "jwt,api_key"
    assert config["restart_grace_seconds"] == 5  # from the test harness's environment
    assert config["jwt_secret"] == "[REDACTED]" and config["admin_password"] == "[REDACTED]"
    assert JWT_SECRET not in response.text and ADMIN_PASSWORD not in response.text


def test_guest_may_not_read_system_or_config(ops_server: ServerProcess) -> None:
    with ops_server.client() as guest:
        for path in ("/api/system", "/api/config"):
            assert guest.get(path).status_code == 401
        assert guest.post("/api/estimate", json=TINY).status_code == 401


def test_json_log_lines_carry_request_job_and_user_and_no_secret(
    ops_server: ServerProcess, admin: httpx.Client
) -> None:
    job_id = ops_server.submit(admin, **TINY)
    ops_server.wait_for(admin, job_id)
    admin.get("/api/queue/job/00000000-0000-0000-0000-000000000000")  # a 404 is logged with its request
    with ops_server.client() as other:
        # A wrong password in a login and a token in a WebSocket-style query must not reach the log.
        other.post("/api/auth/login", json={"username": "admin", "password": "nope"})
        other.get(f"/api/queue/status?token={JWT_SECRET}")
    text = ops_server.log_path.read_text()
    assert JWT_SECRET not in text and ADMIN_PASSWORD not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    job_lines = [line for line in lines if line.get("job_id") == job_id]
    assert job_lines and any("completed" in line["message"] for line in job_lines)
    assert any(line.get("request_id") and line.get("user") == "admin" for line in lines)
