"""Reference images (issue 13): base64 in a JSON body or repeated file parts in a multipart one, under
the limits of every input image, reach the engine (it runs in EDIT mode and the image changes)."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np

from tests.api.modes_support import TEST_MAX_PIXELS, image_b64, output_image, run_mode
from tests.api.split_support import FLUX, SMALL
from tests.server import ServerProcess

EDIT_LINE = "EDIT mode"  # stable-diffusion.cpp's info line when a generation has reference images


def _pixels(client: httpx.Client, job: dict[str, object]) -> np.ndarray:
    image, _ = output_image(client, job)
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_ref_images_reach_the_engine(split_server: ServerProcess, split_client: httpx.Client) -> None:
    base = {**FLUX, **SMALL, "steps": 2, "seed": 11, "prompt": "a fox"}
    plain = run_mode(split_server, split_client, "text2img", **base)
    before = split_server.log_tail(10**8).count(EDIT_LINE)
    edited = run_mode(split_server, split_client, "text2img", **base, ref_images=[image_b64(color="blue")])
    assert split_server.log_tail(10**8).count(EDIT_LINE) == before + 1
    assert not np.array_equal(_pixels(split_client, plain), _pixels(split_client, edited))
    _, fields = output_image(split_client, edited)
    assert fields["Reference images"] == "1"


def test_ref_images_as_repeated_file_parts(split_server: ServerProcess, split_client: httpx.Client) -> None:
    red, green = (base64.b64decode(image_b64(color=color)) for color in ("red", "green"))
    response = split_client.post(
        "/api/generate/img2img",
        files=[
            ("init_image", ("init.png", red, "image/png")),
            ("ref_images", ("a.png", red, "image/png")),
            ("ref_images", ("b.png", green, "image/png")),
        ],
        data={"request": json.dumps({**FLUX, **SMALL, "prompt": "x", "strength": 0.5})},
    )
    assert response.status_code == 202, response.text
    job = split_server.wait_for(split_client, response.json()["job_id"], timeout=600)
    assert job["status"] == "completed", job
    _, fields = output_image(split_client, job)
    assert fields["Reference images"] == "2"


def test_ref_images_are_checked_like_other_images(split_client: httpx.Client) -> None:
    too_large = image_b64(size=(400, 400))
    assert 400 * 400 > TEST_MAX_PIXELS
    cases = [
        ({**FLUX, **SMALL, "ref_images": ["not an image"]}, "ref_images.0"),
        ({**FLUX, **SMALL, "ref_images": [image_b64(), too_large]}, "ref_images.1"),
        ({"model_name": "sd15.safetensors", **SMALL, "ref_images": [image_b64()]}, "ref_images"),
    ]
    for body, field in cases:
        response = split_client.post("/api/generate/text2img", json={"prompt": "x", **body})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "INVALID_PARAMETERS", error
        assert error["message"].startswith(f"{field}: "), error
