"""POST /api/png-info against the shared real server: a PNG the server generated reads back into the
request that made it (JSON and multipart), another tool's PNG reads too, and bad input gets the API's
error body with its code (never a 500). Guests and their limits: tests/api/test_auth.py."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from tests.server import ServerProcess

REQUEST: dict[str, Any] = {
    "prompt": "a lighthouse on a cliff",
    "negative_prompt": "blurry",
    "width": 64,
    "height": 64,
    "steps": 1,
    "cfg_scale": 5.5,
    "seed": 4242,
    "sampling_method": "euler",
    "scheduler": "karras",
}


@pytest.fixture(scope="module")
def generated(server: ServerProcess) -> bytes:
    """A PNG this server made."""
    with server.client() as client:
        job_id = server.submit(client, **REQUEST)
        job = server.wait_for(client, job_id)
        assert job["status"] == "completed", job
        response = client.get(f"/api/v1/jobs/{job_id}/output/image_0.png")
        assert response.status_code == 200, response.text
        return response.content


def png(texts: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_png_of_this_server_reads_back_into_the_request_that_made_it(
    client: httpx.Client, generated: bytes
) -> None:
    reply = client.post("/api/png-info", json={"image": b64(generated)})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["source"] == "sdcpp-rest" and (body["width"], body["height"]) == (64, 64)
    assert {name: body["parameters"][name] for name in REQUEST} == REQUEST
    assert body["parameters"]["model_name"] == "sd15"
    assert set(body["raw"]) == {"parameters"} and body["raw"]["parameters"].startswith(REQUEST["prompt"])
    # The parameters are a body this server takes.
    check = client.post("/api/validate", json=body["parameters"]).json()
    assert check["valid"] is True, check


def test_multipart_file_and_data_url_give_the_same_reply(client: httpx.Client, generated: bytes) -> None:
    as_json = client.post("/api/png-info", json={"image": b64(generated)}).json()

    as_file = client.post("/api/png-info", files={"image": ("out.png", generated, "image/png")})
    text_part = (None, "data:image/png;base64," + b64(generated))  # a form field, not a file
    as_text = client.post("/api/png-info", files={"image": text_part})

    assert as_file.status_code == 200, as_file.text
    assert as_file.json() == as_json and as_text.json() == as_json


def test_an_a1111_png_reads_with_its_unmapped_fields(client: httpx.Client) -> None:
    text = (
        "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, "
        "Size: 512x512, Model hash: abc, Model: v1-5, Version: v1.10.0"
    )

    body = client.post("/api/png-info", json={"image": b64(png({"parameters": text}))}).json()

    assert body["source"] == "a1111"
    assert body["parameters"]["sampling_method"] == "dpmpp2m" and body["parameters"]["scheduler"] == "karras"
    assert body["unmapped"] == {"Model hash": "abc", "Version": "v1.10.0"}


def bomb_header() -> bytes:
    """A 60000x60000 PNG's header and a few bytes of pixels: what a decompression bomb declares."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    text = chunk(b"tEXt", b"parameters\0a\nSteps: 1, Seed: 1, Size: 8x8")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + text + chunk(b"IDAT", zlib.compress(b"\0" * 1000))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": "not base64 !!"}, "base64"),
        ({"image": "data:image/jpeg;base64,AAAA"}, "not accepted"),
        ({"image": b64(b"GIF89a" + b"\0" * 32)}, "not a PNG"),
        ({"image": b64(png({}))}, "no generation parameters"),
        ({"image": b64(png({"prompt": "{not json"}))}, "no generation parameters"),
        ({"image": b64(bomb_header())}, "pixels"),
    ],
    ids=["not base64", "jpeg data url", "gif", "no texts", "broken comfy prompt", "bomb header"],
)
def test_bad_images_are_400_naming_the_field(
    client: httpx.Client, body: dict[str, str], message: str
) -> None:
    error = error_of(client.post("/api/png-info", json=body), 400, "INVALID_PARAMETERS")

    assert error["message"].startswith("image: ") and message in error["message"], error


def test_bad_bodies_get_their_codes(client: httpx.Client) -> None:
    error_of(client.post("/api/png-info", json={}), 422, "VALIDATION_ERROR")
    error_of(client.post("/api/png-info", json={"image": 5}), 422, "VALIDATION_ERROR")
    error_of(client.post("/api/png-info", json={"image": "x", "extra": 1}), 422, "VALIDATION_ERROR")
    error_of(client.post("/api/png-info", json=["x"]), 422, "VALIDATION_ERROR")
    error_of(client.post("/api/png-info", content=b"{", headers={"content-type": "application/json"}), 400,
             "INVALID_PARAMETERS")  # fmt: skip
    error_of(client.post("/api/png-info", content=b"x", headers={"content-type": "text/plain"}), 415,
             "UNSUPPORTED_MEDIA_TYPE")  # fmt: skip
    form = client.post("/api/png-info", files={"image": ("a.png", png({}), "image/png")}, data={"other": "1"})
    error_of(form, 400, "INVALID_PARAMETERS")
    empty_form = client.post("/api/png-info", files={"file": ("a.png", b"", "image/png")})
    error_of(empty_form, 400, "INVALID_PARAMETERS")


def test_an_image_over_max_input_image_bytes_is_refused(client: httpx.Client) -> None:
    too_big = png({"parameters": "a\nSteps: 1, Seed: 1, Size: 8x8"}) + b"\0" * (20 * 1024 * 1024)

    response = client.post("/api/png-info", files={"image": ("big.png", too_big, "image/png")})

    error = error_of(response, 400, "INVALID_PARAMETERS")
    assert "larger than 20971520 bytes" in error["message"], error
