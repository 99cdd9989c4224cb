"""Credentials of the compat APIs with authentication on: HTTP Basic (username and password, or an
API key as the password) for AUTOMATIC1111's clients, Bearer (an API key or a login token) for
OpenAI's; the jobs belong to the caller and follow the native ownership rules."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest
import webuiapi

from tests.compat.conftest import SUBMISSIONS_PER_MINUTE, USERS, api_key, login
from tests.server import ServerProcess

SMALL = {"width": 64, "height": 64, "steps": 1}


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_a1111_basic_auth_and_ownership(compat_auth_server: ServerProcess) -> None:
    api = webuiapi.WebUIApi(
        host="127.0.0.1", port=compat_auth_server.port, username="bob", password=USERS["bob"]
    )
    result = api.txt2img(prompt="bob's fox", **SMALL)
    job_id = result.info["job_id"]
    bob, carol = (
        login(compat_auth_server, "bob", USERS["bob"]),
        login(compat_auth_server, "carol", USERS["carol"]),
    )
    with compat_auth_server.client() as client:
        assert (
            client.get(f"/api/queue/job/{job_id}", headers={"Authorization": f"Bearer {bob}"}).status_code
            == 200
        )
        # Another user's compat job is as invisible as a native one.
        assert (
            client.get(f"/api/queue/job/{job_id}", headers={"Authorization": f"Bearer {carol}"}).status_code
            == 404
        )

        key = api_key(compat_auth_server, "carol", USERS["carol"])
        as_key = client.get("/sdapi/v1/options", headers=_basic("anything", key))  # a key as the password
        assert as_key.status_code == 200
        assert client.get("/sdapi/v1/sd-models", headers={"X-API-Key": key}).status_code == 200
        assert (
            client.get("/sdapi/v1/sd-models", headers={"Authorization": f"Bearer {carol}"}).status_code == 200
        )

        for headers in ({}, {"Authorization": "Basic"}, {"Authorization": "Basic dW5kZWZpbmVk"},
                        _basic("bob", "wrong-password"), _basic("nobody", "x")):  # fmt: skip
            refused = client.get("/sdapi/v1/progress", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert set(refused.json()) == {"error", "detail", "body", "errors"}
            assert refused.headers["www-authenticate"].lower().startswith(("basic", "bearer"))
        assert client.get("/internal/ping").status_code == 200  # A1111's ping needs no credentials


def test_openai_bearer_api_key_and_token(compat_auth_server: ServerProcess) -> None:
    key = api_key(compat_auth_server, "bob", USERS["bob"])
    base = f"{compat_auth_server.url}/v1"
    with openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=600) as sdk:
        result = sdk.images.generate(
            prompt="a fox", size="64x64", response_format="url", extra_body={"steps": 1}
        )
        assert len(result.data) == 1
    # Issue 27: the url is signed, so it works without credentials; the bare path does not.
    url = result.data[0].url or ""
    assert "signature=" in url, url
    assert httpx.get(f"{compat_auth_server.url}{url}").headers["content-type"] == "image/png"
    assert httpx.get(f"{compat_auth_server.url}{url.split('?')[0]}").status_code == 401
    token = login(compat_auth_server, "bob", USERS["bob"])
    with openai.OpenAI(base_url=base, api_key=token, max_retries=0) as sdk:
        assert [model.id for model in sdk.models.list()] == ["sd15.safetensors"]
    with openai.OpenAI(base_url=base, api_key="sdk_bogus_key", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as refused:
            sdk.models.list()
        assert refused.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert httpx.get(f"{base}/models").status_code == 401

    # Over the submission rate: OpenAI's 429 with Retry-After. A submission counts before its files are
    # looked at, so ones naming a missing LoRA cost no generation.
    with openai.OpenAI(
        base_url=base, api_key=api_key(compat_auth_server, "carol", USERS["carol"]), max_retries=0
    ) as sdk:
        for _ in range(SUBMISSIONS_PER_MINUTE):
            with pytest.raises(openai.NotFoundError):
                sdk.images.generate(prompt="x <lora:missing:1>", size="64x64")
        with pytest.raises(openai.RateLimitError) as limited:
            sdk.images.generate(prompt="x <lora:missing:1>", size="64x64")
        assert int(limited.value.response.headers["retry-after"]) > 0
        assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]
