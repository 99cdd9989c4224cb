"""Image modes fed by multipart/form-data: images as file parts, other fields as form fields or as
JSON in a `request` field. Same validation and errors as JSON bodies."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.api.modes_support import half_mask, image_b64, output_image
from tests.server import ServerProcess


def _png(size: tuple[int, int] = (64, 64), color: str = "red") -> bytes:
    return base64.b64decode(image_b64(size, color))


def _wait_completed(server: ServerProcess, client: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    job = server.wait_for(client, response.json()["job_id"], timeout=600)
    assert job["status"] == "completed", (job, server.log_tail())
    return job


def test_inpainting_from_file_parts_and_form_fields(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    response = modes_client.post(
        "/api/generate/inpainting",
        files={
            "init_image": ("photo.png", _png((80, 72)), "image/png"),
            "mask_image": ("mask.png", base64.b64decode(half_mask((80, 72))), "image/png"),
        },
        data={
            "prompt": "a test",
            "steps": "1",
            "seed": "7",
            "strength": "0.6",
            "invert_mask": "true",
            # Lists and objects travel as JSON text.
            "loras": json.dumps([{"name": "lora-random", "weight": 0.4}]),
        },
    )
    job = _wait_completed(modes_server, modes_client, response)
    image, fields = output_image(modes_client, job)
    assert image.size == (80, 72) and job["seed"] == 7
    assert fields["Denoising strength"] == "0.6" and fields["Mask mode"] == "Inpaint not masked"
    assert fields["LoRAs"] == "lora-random: 0.4"


def test_upscale_from_a_file_with_the_body_as_json_in_request(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    response = modes_client.post(
        "/api/generate/upscale",
        files={"image": ("small.png", _png((24, 16)), "image/png")},
        data={"request": json.dumps({"upscaler": "esrgan-x4", "upscale_factor": 1})},
    )
    job = _wait_completed(modes_server, modes_client, response)
    image, fields = output_image(modes_client, job)
    assert image.size == (96, 64) and fields["Upscaler"] == "esrgan-x4"


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


@pytest.mark.parametrize(
    ("files", "data", "status", "code", "field"),
    [
        # Not an image.
        (
            {"init_image": ("x.png", b"plain text", "image/png")},
            {"prompt": "x"},
            400,
            "INVALID_PARAMETERS",
            "init_image",
        ),
        # A number field that is not a number.
        (
            {"init_image": ("x.png", _png(), "image/png")},
            {"prompt": "x", "steps": "many"},
            422,
            "VALIDATION_ERROR",
            "steps",
        ),
        # Out of range, same rule as JSON.
        (
            {"init_image": ("x.png", _png(), "image/png")},
            {"prompt": "x", "strength": "1.5"},
            422,
            "VALIDATION_ERROR",
            "strength",
        ),
        # A file part for a field that is not an image.
        (
            {"init_image": ("x.png", _png(), "image/png"), "prompt": ("p.txt", b"x", "text/plain")},
            {},
            400,
            "INVALID_PARAMETERS",
            "prompt",
        ),
        # Structured field that is not JSON.
        (
            {"init_image": ("x.png", _png(), "image/png")},
            {"prompt": "x", "loras": "lora-random"},
            400,
            "INVALID_PARAMETERS",
            "loras",
        ),
        # The same field in `request` and as a form field.
        (
            {"init_image": ("x.png", _png(), "image/png")},
            {"prompt": "x", "request": '{"prompt": "y"}'},
            400,
            "INVALID_PARAMETERS",
            "prompt",
        ),
        # `request` that is not a JSON object.
        (
            {"init_image": ("x.png", _png(), "image/png")},
            {"request": "[1, 2]"},
            400,
            "INVALID_PARAMETERS",
            "request",
        ),
        # The image is missing altogether.
        (None, {"prompt": "x"}, 422, "VALIDATION_ERROR", "init_image"),
    ],
)
def test_bad_multipart_bodies_are_refused_naming_the_field(
    modes_client: httpx.Client,
    files: dict | None,
    data: dict,
    status: int,
    code: str,
    field: str,
) -> None:
    if files is None:  # httpx sends form-urlencoded without files: write the multipart body by hand
        response = modes_client.post(
            "/api/generate/img2img",
            content=b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n--b--\r\n',
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    else:
        response = modes_client.post("/api/generate/img2img", files=files, data=data)
    assert field in _error(response, status, code)


def test_other_content_types_are_unsupported(modes_client: httpx.Client) -> None:
    response = modes_client.post(
        "/api/generate/img2img", content=b"prompt=x", headers={"content-type": "text/plain"}
    )
    assert "multipart/form-data" in _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    malformed = modes_client.post(
        "/api/generate/img2img", content=b'{"prompt": ', headers={"content-type": "application/json"}
    )
    assert "JSON" in _error(malformed, 400, "INVALID_PARAMETERS")


def test_openapi_documents_both_body_kinds(modes_client: httpx.Client) -> None:
    schema = modes_client.get("/openapi.json").json()
    for mode, image in [("img2img", "init_image"), ("inpainting", "mask_image"), ("upscale", "image")]:
        content = schema["paths"][f"/api/generate/{mode}"]["post"]["requestBody"]["content"]
        reference = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "strength" in schema["components"]["schemas"][reference]["properties"] or mode == "upscale"
        assert content["multipart/form-data"]["schema"]["properties"][image]["format"] == "binary"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx', "multipart/form-data; boundary=b"),
        (b"no boundary given", "multipart/form-data"),
        (
            b"".join(
                b'--b\r\nContent-Disposition: form-data; name="f%d"; filename="f.png"\r\n\r\nx\r\n' % i
                for i in range(20)
            )
            + b"--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["truncated", "no-boundary", "too-many-files"],
)
def test_malformed_multipart_is_a_clear_4xx(
    modes_client: httpx.Client, content: bytes, content_type: str
) -> None:
    response = modes_client.post(
        "/api/generate/img2img", content=content, headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in ("INVALID_PARAMETERS", "VALIDATION_ERROR")
