"""Issue 27, finding 6: prompts the engine would crash on are refused up front, in every front door.

stable-diffusion.cpp's std::regex prompt parser overflows the engine worker's stack from about 26,000
bytes of text (bench/bench_prompt_limit.py); `"😀" * 6600` and `"é" * 20000` were within the old
20,000-character limit and killed the worker every time. A real server and the real engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sdcpp_rest.schemas.parameters import MAX_PROMPT_BYTES
from tests.api.security_support import data_dir_with_model
from tests.server import ServerProcess

CRASHING_PROMPTS = ["😀" * 6600, "é" * 20000]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(data_dir_with_model(tmp_path_factory.mktemp("prompt-limit"))).start()
    yield running
    running.stop()


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
@pytest.mark.parametrize("text", CRASHING_PROMPTS, ids=["emoji", "e-acute"])
def test_crashing_prompts_are_refused_natively(server: ServerProcess, field: str, text: str) -> None:
    body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 1, field: text}
    with server.client() as client:
        reply = client.post("/api/generate/text2img", json=body)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    assert f"at most {MAX_PROMPT_BYTES} bytes" in error["message"], error


@pytest.mark.parametrize("text", CRASHING_PROMPTS, ids=["emoji", "e-acute"])
def test_crashing_prompts_are_refused_by_the_compat_apis(server: ServerProcess, text: str) -> None:
    with server.client() as client:
        a1111 = client.post("/sdapi/v1/txt2img", json={"prompt": text, "width": 64, "height": 64, "steps": 1})
        a1111_negative = client.post(
            "/sdapi/v1/txt2img", json={"prompt": "a", "negative_prompt": text, "width": 64, "height": 64}
        )
        openai = client.post("/v1/images/generations", json={"prompt": text, "size": "256x256"})
    for reply in (a1111, a1111_negative, openai):
        assert 400 <= reply.status_code < 500, (reply.request.url, reply.status_code, reply.text[:300])
        assert "bytes" in reply.text, reply.text[:500]


def test_a_prompt_just_under_the_bound_generates(server: ServerProcess) -> None:
    """An ordinary ASCII prompt of MAX_PROMPT_BYTES (one run of the engine's attention parser, the
    measured worst case) as prompt and negative prompt: the worker encodes it and completes."""
    unit = "a photo of a cat, "
    text = (unit * (MAX_PROMPT_BYTES // len(unit) + 1))[:MAX_PROMPT_BYTES]
    with server.client() as client:
        job_id = server.submit(client, prompt=text, negative_prompt=text, cfg_scale=2.0)
        job = server.wait_for(client, job_id, timeout=900)
    assert job["status"] == "completed", job
