"""AUTOMATIC1111's API through webuiapi from PyPI, unmodified, against a real server and engine."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import webuiapi
from PIL import Image

from sdcpp_rest.outputs.infotext import parse_infotext
from tests.compat.conftest import OTHER_CHECKPOINT, native_job
from tests.server import ServerProcess

SMALL = {"width": 64, "height": 64, "steps": 1}


@pytest.fixture
def api(compat_server: ServerProcess) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(host="127.0.0.1", port=compat_server.port, sampler="Euler a", steps=1)


def _job_id(result: webuiapi.WebUIApiResult) -> str:
    return str(result.info["job_id"])


def test_txt2img_answers_images_parameters_and_info_and_is_a_native_job(
    api: webuiapi.WebUIApi, compat_server: ServerProcess
) -> None:
    result = api.txt2img(
        prompt="a fox <lora:lora-random:0.5>", negative_prompt="blurry", seed=1234, batch_size=2,
        sampler_name="DPM++ 2M Karras", cfg_scale=5.5, **SMALL,
    )  # fmt: skip
    assert len(result.images) == 2 and all(image.size == (64, 64) for image in result.images)
    info: dict[str, Any] = result.info
    assert info["seed"] == 1234 and info["all_seeds"] == [1234, 1235]
    assert info["sampler_name"] == "DPM++ 2M" and info["scheduler"] == "karras"  # the old name's scheduler
    assert info["sd_model_name"] == "sd15" and info["width"] == 64 and info["cfg_scale"] == 5.5
    assert {"all_prompts", "subseed", "all_subseeds", "sd_model_hash", "denoising_strength", "clip_skip",
            "job_timestamp", "batch_size"} <= info.keys()  # fmt: skip
    for image, infotext in zip(result.images, info["infotexts"], strict=True):
        assert image.text["parameters"] == infotext  # the PNG carries the infotext chunk
    prompt, negative, fields = parse_infotext(info["infotexts"][1])
    assert negative == "blurry" and fields["Seed"] == "1235" and "lora-random" in fields["LoRAs"]
    assert result.parameters["prompt"] == "a fox <lora:lora-random:0.5>" and result.parameters["n_iter"] == 1

    job = native_job(compat_server, _job_id(result))
    assert job["status"] == "completed" and job["mode"] == "text2img"
    with compat_server.client() as client:
        listed = client.get("/api/queue/status").json()["queue"]["jobs"]
        metrics = client.get("/metrics").text
    assert _job_id(result) in [entry["id"] for entry in listed]
    assert 'route="/sdapi/v1/txt2img"' in metrics  # labelled with the mount path, like native routes


def test_img2img_with_a_mask_inpaints(api: webuiapi.WebUIApi, compat_server: ServerProcess) -> None:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (32, 0, 64, 64))
    result = api.img2img(
        images=[Image.new("RGB", (64, 64), "red")], mask_image=mask, mask_blur=2, inpainting_mask_invert=1,
        denoising_strength=0.6, prompt="a fox", **SMALL,
    )  # fmt: skip
    assert len(result.images) == 1 and result.images[0].size == (64, 64)
    job = native_job(compat_server, _job_id(result))
    assert job["mode"] == "inpainting"
    assert job["parameters"]["invert_mask"] is True and job["parameters"]["strength"] == 0.6


def test_controlnet_unit_is_mapped(api: webuiapi.WebUIApi, compat_server: ServerProcess) -> None:
    unit = webuiapi.ControlNetUnit(
        image=Image.new("RGB", (64, 64), "white"),
        module="canny",
        model="control-random [abcd1234]",
        weight=0.5,
    )
    # A fresh alwayson_scripts: webuiapi adds the units to its mutable default, which later calls share.
    result = api.txt2img(prompt="a fox", controlnet_units=[unit], alwayson_scripts={}, **SMALL)
    params = native_job(compat_server, _job_id(result))["parameters"]
    assert params["control_net"] == "control-random" and params["control_strength"] == 0.5 and params["canny"]


def test_model_listing_and_switch(api: webuiapi.WebUIApi, compat_server: ServerProcess) -> None:
    models = api.get_sd_models()
    titles = {model["model_name"]: model["title"] for model in models}
    assert set(titles) == {"sd15", "second"}
    assert all(model["filename"].startswith("checkpoints/") for model in models)
    assert [sampler["name"] for sampler in api.get_samplers()][:2] == ["Euler", "Euler a"]
    assert "esrgan-x4" in [upscaler["name"] for upscaler in api.get_upscalers()]
    try:
        api.util_set_model("second")
        assert api.get_options()["sd_model_checkpoint"] == titles["second"]
        result = api.txt2img(prompt="x", **SMALL)
        assert result.info["sd_model_name"] == "second"
        assert native_job(compat_server, _job_id(result))["model_name"] == OTHER_CHECKPOINT
    finally:
        api.util_set_model("sd15")
    refused = httpx.post(
        f"{compat_server.url}/sdapi/v1/options", json={"sd_model_checkpoint": "nope [0123456789]"}
    )
    assert refused.status_code == 404 and refused.json()["error"] == "ModelNotFound"


def test_progress_while_a_job_runs_then_interrupt(
    api: webuiapi.WebUIApi, compat_server: ServerProcess
) -> None:
    results: list[webuiapi.WebUIApiResult] = []
    worker = threading.Thread(
        target=lambda: results.append(api.txt2img(prompt="x", width=64, height=64, steps=40))
    )
    worker.start()
    deadline = time.monotonic() + 120
    progress = api.get_progress()
    while not (progress["state"]["sampling_step"] >= 1 and progress["current_image"]):
        assert time.monotonic() < deadline, progress
        time.sleep(0.2)
        progress = api.get_progress()
    assert progress["state"]["job_count"] == 1 and 0 < progress["progress"] < 1
    assert progress["state"]["sampling_steps"] == 40 and progress["eta_relative"] >= 0
    api.interrupt()
    worker.join(timeout=60)
    assert results and results[0].images == []  # A1111 answers an interrupted job with what it has
    assert native_job(compat_server, _job_id(results[0]))["status"] == "cancelled"
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0


def test_extras_upscale_and_png_info(api: webuiapi.WebUIApi) -> None:
    upscaled = api.extra_single_image(
        Image.new("RGB", (32, 32), "blue"), upscaler_1="esrgan-x4", upscaling_resize=3
    )
    assert upscaled.image.size == (96, 96)
    batch = api.extra_batch_images(
        [Image.new("RGB", (16, 16), "red"), Image.new("RGB", (8, 8), "red")],
        upscaler_1="Lanczos",
        upscaling_resize=2,
    )
    assert [image.size for image in batch.images] == [(32, 32), (16, 16)]
    generated = api.txt2img(prompt="a red fox", seed=7, **SMALL).image
    info = api.png_info(generated)
    assert info.info.startswith("a red fox\n") and info.json["parameters"]["Seed"] == "7"


def test_bad_input_is_answered_in_a1111_shape(compat_server: ServerProcess) -> None:
    with compat_server.client() as client:
        cases = [
            (client.post("/sdapi/v1/txt2img", json={"sampler_name": "Euler Z"}), 404, "NameNotFound"),
            (
                client.post("/sdapi/v1/txt2img", json={"steps": 0, **{"width": 64, "height": 64}}),
                422,
                "RequestValidationError",
            ),
            (
                client.post(
                    "/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"}
                ),
                400,
                None,
            ),
            (
                client.post("/sdapi/v1/img2img", json={"init_images": ["not base64!"]}),
                400,
                "ImageUndecodable",  # a kind of InvalidParameters, from the one image decoder
            ),
            (client.post("/sdapi/v1/img2img", json={"prompt": "x"}), 404, "NameNotFound"),
            (
                client.post("/sdapi/v1/txt2img", json={"override_settings": {"sd_model_checkpoint": "nope"}}),
                404,
                None,
            ),
            (client.post("/sdapi/v1/extra-single-image", json={"image": "x"}), 400, None),
            (client.get("/sdapi/v1/no-such-route"), 404, None),
            (client.get("/sdapi/v1/txt2img"), 405, None),
        ]
        for response, status, error in cases:
            body = response.json()
            assert response.status_code == status, response.text
            assert set(body) == {"error", "detail", "body", "errors"}, body
            assert error is None or body["error"] == error, body
        assert client.get("/internal/ping").json() == {}
