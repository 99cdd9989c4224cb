"""Error answers against the real server (each one failed before its fix): the Allow header of a 405,
strict query parameters."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_bad_input import assert_error

JOB = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", f"/api/queue/job/{JOB}", {"GET", "DELETE"}),  # two routes share this path
        ("PATCH", "/api/auth/keys", {"GET", "POST"}),
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
