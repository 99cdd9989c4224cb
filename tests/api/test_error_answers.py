"""Error answers against the real server (each one failed before its fix): the Allow header of a 405."""

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
