"""OpenAI's Images API through the `openai` SDK from PyPI, unmodified, against a real server and engine."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image

from tests.compat.conftest import decode_png
from tests.server import ServerProcess

STEPS = {"steps": 1}  # the local extra that keeps these tests quick


@pytest.fixture
def client(compat_server: ServerProcess) -> Iterator[openai.OpenAI]:
    # No retries: a retried request would be a second job.
    with openai.OpenAI(
        base_url=f"{compat_server.url}/v1", api_key="unused", max_retries=0, timeout=600
    ) as sdk:
        yield sdk


def _png(color: str = "red", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 64), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_generate_b64_json_with_n_2_and_url(client: openai.OpenAI, compat_server: ServerProcess) -> None:
    result = client.images.generate(
        model="gpt-image-1", prompt="a fox", n=2, size="64x64", extra_body={**STEPS, "seed": 5}
    )  # gpt-image models answer b64_json by default
    assert result.size == "64x64" and result.output_format == "png" and len(result.data) == 2
    assert all(decode_png(item.b64_json or "").size == (64, 64) for item in result.data)
    assert result.data[0].revised_prompt == "a fox" and result.usage is not None

    as_url = client.images.generate(
        model="dall-e-3", prompt="a fox", size="64x64", response_format="url", extra_body=STEPS
    )
    url = as_url.data[0].url or ""
    # Relative without public_url: never built from the Host header (issue 27 finding 7).
    assert url.startswith("/api/queue/job/"), url
    download = httpx.get(f"{compat_server.url}{url}")
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    job_id = url.split("/api/queue/job/")[1].split("/")[0]
    with compat_server.client() as native:
        assert native.get(f"/api/queue/job/{job_id}").json()["mode"] == "text2img"

    jpeg = client.images.generate(
        model="sd15", prompt="a fox", size="64x64", response_format="b64_json", output_format="jpeg",
        output_compression=50, extra_body=STEPS,
    )  # fmt: skip
    assert jpeg.output_format == "jpeg" and decode_png(jpeg.data[0].b64_json or "").format == "JPEG"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # create_variation, still served
def test_edit_with_and_without_a_mask_and_variation(
    client: openai.OpenAI, compat_server: ServerProcess
) -> None:
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (32, 0, 64, 64))  # transparent right half: repaint it
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    masked = client.images.edit(
        image=("in.png", _png(), "image/png"), mask=("mask.png", buffer.getvalue(), "image/png"),
        prompt="a blue sky", response_format="b64_json", extra_body=STEPS,
    )  # fmt: skip
    assert masked.size == "64x64" and len(masked.data) == 1

    unmasked = client.images.edit(
        image=[("in.png", _png("green"), "image/png")],
        prompt="a forest",
        size="128x64",
        response_format="b64_json",
        extra_body=STEPS,
    )  # fmt: skip (a list goes as image[])
    assert unmasked.size == "128x64"

    variation = client.images.create_variation(
        image=("in.png", _png(), "image/png"), response_format="b64_json", extra_body=STEPS
    )
    assert decode_png(variation.data[0].b64_json or "").size == (64, 64)

    with compat_server.client() as native:
        jobs = native.get("/api/queue/status", params={"limit": 3}).json()["queue"]["jobs"]
    assert [job["mode"] for job in jobs] == ["img2img", "img2img", "inpainting"]  # newest first


def test_stream_sends_partial_images_then_the_result(client: openai.OpenAI) -> None:
    events = list(
        client.images.generate(
            prompt="a fox", size="64x64", stream=True, partial_images=2, extra_body={"steps": 3}
        )
    )
    kinds = [event.type for event in events]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [getattr(event, "partial_image_index", None) for event in events[:2]] == [0, 1]
    assert Image.open(io.BytesIO(base64.b64decode(events[-1].b64_json))).size == (64, 64)


def test_errors_are_openai_errors(client: openai.OpenAI, compat_server: ServerProcess) -> None:
    for size in ("banana", "10x10", "100x100", "8192x64"):
        with pytest.raises(openai.BadRequestError) as bad:
            client.images.generate(prompt="x", size=size)  # type: ignore[arg-type]
        assert bad.value.body["param"] == "size"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        client.images.generate(prompt="x", model="no-such-checkpoint")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.images.generate(prompt="x", n=0)
    with pytest.raises(openai.BadRequestError):
        client.images.edit(image=("in.png", b"not an image", "image/png"), prompt="x")

    assert [model.id for model in client.models.list()] == ["sd15.safetensors", "second.safetensors"]
    assert client.models.retrieve("sd15").id == "sd15.safetensors"
    with httpx.Client(base_url=f"{compat_server.url}/v1") as raw:
        assert raw.options("/images/generations").status_code == 204
        response = raw.post("/images/generations", json={"size": "64x64"})  # no prompt
        assert response.status_code == 400 and set(response.json()["error"]) == {
            "message",
            "type",
            "param",
            "code",
        }
