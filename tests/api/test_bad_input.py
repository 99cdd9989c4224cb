"""Every kind of bad input gets the API's error body with the right code and a 4xx, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

VALID = {"prompt": "x", "width": 64, "height": 64, "steps": 1}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status_code"] == status
    assert error["request_id"] == response.headers["x-request-id"]
    assert isinstance(error["timestamp"], int) and error["message"]
    assert "Traceback" not in response.text
    return dict(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"steps": "many"}, "steps"),
        ({"width": 63}, "width"),
        ({"width": 100}, "width"),  # not a multiple of 8
        ({"height": 8192}, "height"),
        ({"cfg_scale": 0.5}, "cfg_scale"),
        ({"batch_count": 51}, "batch_count"),
        ({"seed": "lucky"}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"sampling_method": "euler_b"}, "sampling_method"),
        ({"scheduler": "weekly"}, "scheduler"),
        ({"prompt": None}, "prompt"),
        ({"sampler": "euler"}, "sampler"),  # unknown field: a typo must not pass silently
    ],
)
def test_out_of_range_or_wrong_typed_fields(client: httpx.Client, change: dict[str, Any], field: str) -> None:
    error = assert_error(
        client.post("/api/generate/text2img", json={**VALID, **change}), 422, "VALIDATION_ERROR"
    )
    assert field in error["message"]


def test_malformed_json(client: httpx.Client) -> None:
    response = client.post(
        "/api/generate/text2img", content=b'{"prompt": "x",', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "INVALID_PARAMETERS")


def test_unknown_model(client: httpx.Client, server: ServerProcess) -> None:
    response = client.post("/api/generate/text2img", json={**VALID, "model_name": "nope.safetensors"})
    error = assert_error(response, 404, "MODEL_NOT_FOUND")
    assert str(server.data_dir) not in error["message"]  # no server paths in client-facing errors


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "checkpoints/../../x.safetensors"])
def test_model_name_outside_models_folder(client: httpx.Client, name: str) -> None:
    assert_error(
        client.post("/api/generate/text2img", json={**VALID, "model_name": name}), 400, "INVALID_PARAMETERS"
    )


@pytest.mark.parametrize(
    "field", ["vae_path", "taesd_path", "clip_l_path", "lora_model_dir", "embedding_dir"]
)
def test_component_paths_outside_their_folder(
    client: httpx.Client, server: ServerProcess, field: str
) -> None:
    for value in ["../checkpoints/sd15.safetensors", "/etc/passwd"]:
        error = assert_error(
            client.post("/api/generate/text2img", json={**VALID, field: value}), 400, "INVALID_PARAMETERS"
        )
        assert error["message"].startswith(f"{field}: ")  # names the field
        assert str(server.data_dir) not in error["message"]  # no server paths in client-facing errors
    # Inside the folder but not there: a missing model file, as for a missing checkpoint.
    missing = client.post("/api/generate/text2img", json={**VALID, field: "missing.safetensors"})
    assert assert_error(missing, 404, "MODEL_NOT_FOUND")["message"].startswith(f"{field}: ")
    # /api/validate names the same field.
    report = client.post("/api/validate", json={**VALID, field: "/etc/passwd"}).json()
    assert not report["valid"] and report["errors"][0]["field"] == field, report


def test_oversized_body(client: httpx.Client) -> None:
    huge = b'{"prompt": "' + b"x" * (51 * 1024 * 1024) + b'"}'
    response = client.post(
        "/api/generate/text2img", content=huge, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_unknown_job(client: httpx.Client) -> None:
    assert_error(client.get(f"/api/queue/job/{uuid.uuid4()}"), 404, "JOB_NOT_FOUND")
    assert_error(client.post("/api/queue/cancel", json={"job_id": str(uuid.uuid4())}), 404, "JOB_NOT_FOUND")
    assert_error(client.get("/api/queue/job/not-a-job-id"), 400, "INVALID_PARAMETERS")


@pytest.mark.parametrize(
    "path",
    [
        "/api/queue/job/{job}/output/..%2F..%2Fsdcpp-rest.db",
        "/api/queue/job/{job}/output/%2Fetc%2Fpasswd",
        "/api/queue/job/..%2F..%2Fetc/output/passwd",
        "/api/queue/job/{job}/output/.hidden",
        "/api/v1/jobs/{job}/output/..%5C..%5Cx.png",
        "/api/v1/jobs/..%2F/output/image_0.png",
        "/api/queue/job/{job}/output/image_0.png",  # a job id that exists nowhere
    ],
)
def test_path_tricks_in_job_id_and_filename(client: httpx.Client, path: str) -> None:
    response = client.get(path.format(job=uuid.uuid4()))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in {"INVALID_PARAMETERS", "FILE_NOT_FOUND", "NOT_FOUND"}


def test_thumbnail_size_out_of_range(client: httpx.Client) -> None:
    response = client.get(f"/api/v1/jobs/{uuid.uuid4()}/output/image_0.png", params={"thumb": 1, "size": 10})
    assert_error(response, 422, "VALIDATION_ERROR")


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "NOT_FOUND")
    assert_error(client.get("/api/generate/text2img"), 405, "METHOD_NOT_ALLOWED")


def test_cancel_body_must_name_a_job(client: httpx.Client) -> None:
    assert_error(client.post("/api/queue/cancel", json={}), 422, "VALIDATION_ERROR")
    error = assert_error(
        client.post("/api/queue/cancel", json={"job_id": "../../x"}), 400, "INVALID_PARAMETERS"
    )
    assert "job_id" in error["message"]
