"""Bad inputs of the image modes are refused before queueing, with a message naming the field."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from tests.api.modes_support import expect_error, half_mask, image_b64

BASE = {"prompt": "x", "steps": 1}


def _gif() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="GIF")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not base64 at all!", "base64"),
        (base64.b64encode(b"plain text, not an image").decode(), "decode"),
        (_gif(), "GIF"),
        ("data:text/plain;base64," + base64.b64encode(b"x").decode(), "text/plain"),
        ("", "empty"),
    ],
)
def test_bad_init_image_is_invalid_parameters_naming_the_field(
    modes_client: httpx.Client, value: str, why: str
) -> None:
    message = expect_error(
        modes_client, "img2img", {**BASE, "init_image": value}, "INVALID_PARAMETERS", "init_image"
    )
    assert why in message


def test_wrong_json_type_of_an_image_is_a_validation_error(modes_client: httpx.Client) -> None:
    expect_error(modes_client, "img2img", {**BASE, "init_image": 12}, "VALIDATION_ERROR", "init_image")


def test_mask_of_another_size_is_refused(modes_client: httpx.Client) -> None:
    body = {**BASE, "init_image": image_b64((64, 64)), "mask_image": half_mask((64, 48))}
    message = expect_error(modes_client, "inpainting", body, "INVALID_PARAMETERS", "mask_image")
    assert "64x48" in message and "64x64" in message


def test_too_many_pixels_is_refused(modes_client: httpx.Client) -> None:
    body = {**BASE, "init_image": image_b64((400, 400))}
    assert "pixels" in expect_error(modes_client, "img2img", body, "INVALID_PARAMETERS", "init_image")
    upscale = {"image": image_b64((400, 400)), "upscaler": "esrgan-x4"}
    expect_error(modes_client, "upscale", upscale, "INVALID_PARAMETERS", "image")


@pytest.mark.parametrize(
    ("mode", "body", "field"),
    [
        ("img2img", {"strength": 1.5}, "strength"),
        ("img2img", {"width": 68}, "width"),
        ("img2img", {"resize_mode": "squash"}, "resize_mode"),
        ("inpainting", {"mask_blur": -1, "mask_image": "x"}, "mask_blur"),
        ("controlnet", {"control_strength": 5, "control_image": "x", "control_net": "c"}, "control_strength"),
        ("img2img", {"loras": [{"name": "lora-random", "weight": 9}]}, "loras.0.weight"),
        ("img2img", {"hires": {"scale": 10}}, "hires.scale"),
        ("img2img", {"upscale_factor": 0}, "upscale_factor"),
    ],
)
def test_out_of_range_fields_are_validation_errors(
    modes_client: httpx.Client, mode: str, body: dict[str, object], field: str
) -> None:
    full = {**BASE, "init_image": image_b64(), **body}
    expect_error(modes_client, mode, full, "VALIDATION_ERROR", field)


def test_upscale_needs_only_an_image_and_an_upscaler(modes_client: httpx.Client) -> None:
    expect_error(modes_client, "upscale", {"image": image_b64()}, "VALIDATION_ERROR", "upscaler")
    expect_error(
        modes_client, "upscale", {"image": image_b64(), "upscaler": "nope"}, "MODEL_NOT_FOUND", "upscaler"
    )


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"loras": [{"name": "missing-lora", "weight": 1}]}, "loras.0.name", "MODEL_NOT_FOUND"),
        ({"prompt": "x <lora:missing-lora:0.5>"}, "prompt", "MODEL_NOT_FOUND"),
        ({"loras": [{"name": "../checkpoints/sd15", "weight": 1}]}, "loras.0.name", "INVALID_PARAMETERS"),
        ({"upscaler": "missing-esrgan"}, "upscaler", "MODEL_NOT_FOUND"),
        ({"hires": {"upscaler": "missing-esrgan"}}, "hires.upscaler", "MODEL_NOT_FOUND"),
    ],
)
def test_unknown_files_are_refused_before_queueing(
    modes_client: httpx.Client, body: dict[str, object], field: str, code: str
) -> None:
    before = modes_client.get("/api/queue/status").json()["queue"]["size"]
    expect_error(modes_client, "text2img", {**BASE, "width": 64, "height": 64, **body}, code, field)
    assert modes_client.get("/api/queue/status").json()["queue"]["size"] == before


def test_unknown_control_net_is_refused(modes_client: httpx.Client) -> None:
    body = {**BASE, "control_image": image_b64(), "control_net": "missing"}
    expect_error(modes_client, "controlnet", body, "MODEL_NOT_FOUND", "control_net")


def test_parameters_endpoint_serves_the_mode_ranges(modes_client: httpx.Client) -> None:
    ranges = modes_client.get("/api/parameters").json()["parameters"]
    assert ranges["strength"] == {"min": 0.0, "max": 1.0, "default": 0.75, "step": 0.01}
    assert ranges["control_strength"]["default"] == 0.9
    schema = modes_client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["Img2ImgRequest"]["properties"]["strength"]["maximum"] == 1.0
    assert schema["ControlNetRequest"]["properties"]["control_strength"]["default"] == 0.9


def test_validate_checks_mode_bodies_and_names_the_field(modes_client: httpx.Client) -> None:
    reply = modes_client.post(
        "/api/validate", params={"mode": "img2img"}, json={**BASE, "init_image": "x", "strength": 2}
    ).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "strength"
    reply = modes_client.post(
        "/api/validate", params={"mode": "text2img"}, json={**BASE, "loras": [{"name": "nope", "weight": 1}]}
    ).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "loras.0.name"
    reply = modes_client.post(
        "/api/validate", params={"mode": "upscale"}, json={"image": "x", "upscaler": "esrgan-x4"}
    ).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "image", reply
    reply = modes_client.post(
        "/api/validate",
        params={"mode": "upscale"},
        json={"image": image_b64((40, 24)), "upscaler": "esrgan-x4"},
    ).json()
    assert reply["valid"] and reply["normalized"]["image"] == "<image 40x24>", reply


def test_validate_decodes_images_and_reports_the_size_they_give(modes_client: httpx.Client) -> None:
    body = {**BASE, "init_image": image_b64((83, 69)), "mask_image": half_mask((83, 69))}
    reply = modes_client.post("/api/validate", params={"mode": "inpainting"}, json=body).json()
    assert reply["valid"], reply
    normalized = reply["normalized"]
    assert (normalized["width"], normalized["height"]) == (80, 72)
    assert normalized["init_image"] == normalized["mask_image"] == "<image 80x72>"
    body["mask_image"] = half_mask((64, 64))
    reply = modes_client.post("/api/validate", params={"mode": "inpainting"}, json=body).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "mask_image", reply
