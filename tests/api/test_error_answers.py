"""Error answers against the real server (each one failed before its fix): the Allow header of a 405,
strict query parameters, names too long for any file system."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import VALID, assert_error
from tests.server import ServerProcess

# A fixed id: test ids built from it must be the same in every xdist worker.
JOB = "4b1f9a52-8f0e-4d6b-9c3a-2e5d7a1c0b11"
# Longer than NAME_MAX (255 bytes): stat() fails with ENAMETOOLONG instead of "no such file".
OVERLONG = "a" * 300


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", f"/api/queue/job/{JOB}", {"GET", "DELETE"}),  # two routes share this path
        ("PATCH", "/api/auth/keys", {"GET", "POST", "DELETE"}),
        ("DELETE", "/api/generate/text2img", {"POST"}),
    ],
)
def test_405_allow_names_every_method_of_the_path(
    client: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/queue/status", {"limit": "+0.0"}, "limit"),
        ("/api/queue/status", {"limit": "1e1"}, "limit"),
        ("/api/models", {"page": " 1"}, "page"),
        ("/api/models", {"min_size": "1_000"}, "min_size"),
        ("/api/models", {"loaded": "yes"}, "loaded"),
        (f"/api/v1/jobs/{JOB}/output/image_0.png", {"thumb": "on"}, "thumb"),
        (f"/api/v1/jobs/{JOB}/output/image_0.png", {"thumb": "1", "size": "64.0"}, "size"),
    ],
)
def test_query_numbers_and_booleans_take_only_their_plain_form(
    client: httpx.Client, path: str, params: dict[str, str], name: str
) -> None:
    error = assert_error(client.get(path, params=params), 422, "VALIDATION_ERROR")
    assert f"query.{name}" in error["message"]


def test_plain_query_forms_are_accepted(client: httpx.Client) -> None:
    assert client.get("/api/queue/status", params={"limit": "5"}).status_code == 200
    for loaded in ("true", "FALSE", "1", "0"):
        assert client.get("/api/models", params={"loaded": loaded, "page": "1"}).status_code == 200
    thumbnail = client.get(f"/api/v1/jobs/{JOB}/output/image_0.png", params={"thumb": "true", "size": "64"})
    assert_error(thumbnail, 404, "FILE_NOT_FOUND")  # past validation: the job has no such file


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        ("/api/generate/text2img", {"model_name": OVERLONG}, "model_name"),
        ("/api/estimate", {"model_name": OVERLONG}, "model_name"),
        ("/api/generate/text2img", {"vae_path": OVERLONG}, "vae_path"),
        ("/api/generate/text2img", {"loras": [{"name": OVERLONG, "weight": 1}]}, "loras.0.name"),
        ("/api/generate/text2img", {"upscaler": OVERLONG}, "upscaler"),
    ],
)
def test_overlong_file_names_are_bad_requests(
    client: httpx.Client, server: ServerProcess, path: str, change: dict[str, Any], field: str
) -> None:
    # With the folder there, the lookup reaches the overlong name (ENAMETOOLONG, not ENOENT).
    for folder in ("vae", "lora", "esrgan"):
        (server.data_dir / "models" / folder).mkdir(parents=True, exist_ok=True)
    error = assert_error(client.post(path, json={**VALID, **change}), 400, "INVALID_PARAMETERS")
    assert field in error["message"] and "255" in error["message"]


def test_validate_reports_an_overlong_model_name(client: httpx.Client) -> None:
    response = client.post("/api/validate", json={**VALID, "model_name": OVERLONG})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is False and report["errors"][0]["code"] == "INVALID_PARAMETERS", report
