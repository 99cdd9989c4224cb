"""A server whose models folder holds every test model type, and helpers for image-input requests."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from sdcpp_rest.outputs.infotext import parse_infotext
from tests.fixtures import mode_models
from tests.server import ServerProcess, link_or_copy, prepare_data_dir

# Small enough that a 400x400 image is "too many pixels" without sending megabytes.
TEST_MAX_PIXELS = 300 * 300


def prepare_modes_data_dir(data_dir: Path) -> Path:
    prepare_data_dir(data_dir)
    models = data_dir / "models"
    link_or_copy(mode_models.vae_model(), models / "vae" / "vae-random.safetensors")
    link_or_copy(mode_models.taesd_model(), models / "taesd" / "taesd-random.safetensors")
    link_or_copy(mode_models.controlnet_model(), models / "controlnet" / "control-random.safetensors")
    link_or_copy(mode_models.esrgan_model(), models / "esrgan" / "esrgan-x4.safetensors")
    link_or_copy(mode_models.lora_model(), models / "lora" / "lora-random.safetensors")
    link_or_copy(mode_models.embedding_model(), models / "embeddings" / "testemb.safetensors")
    # The two files that crash the engine (ENGINE_NOTES.md): the server must survive them.
    link_or_copy(mode_models.wrong_shape_lora(), models / "lora" / "lora-wrong-shape.safetensors")
    link_or_copy(
        mode_models.diffusers_controlnet(), models / "controlnet" / "controlnet-diffusers.safetensors"
    )
    return data_dir


@pytest.fixture(scope="session")
def modes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_modes_data_dir(tmp_path_factory.mktemp("modes-server"))
    process = ServerProcess(data_dir, env={"STABLE_DIFFUSION_MAX_INPUT_IMAGE_PIXELS": str(TEST_MAX_PIXELS)})
    process.start()
    yield process
    process.stop()


@pytest.fixture
def modes_client(modes_server: ServerProcess) -> Iterator[httpx.Client]:
    with modes_server.client() as http:
        yield http


def image_b64(
    size: tuple[int, int] = (64, 64), color: str = "red", fmt: str = "PNG", data_url: bool = False
) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    text = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{fmt.lower()};base64,{text}" if data_url else text


def half_mask(size: tuple[int, int] = (64, 64)) -> str:
    """White (repaint) right half, black left half."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def run_mode(server: ServerProcess, client: httpx.Client, mode: str, **body: Any) -> dict[str, Any]:
    """Queue a job of `mode`, wait for its end, return the job (asserting it completed)."""
    if mode != "upscale":
        body = {"prompt": "a test", "steps": 1, "seed": 42, **body}
    response = client.post(f"/api/generate/{mode}", json=body)
    assert response.status_code == 202, response.text
    job = server.wait_for(client, response.json()["job_id"], timeout=600)
    assert job["status"] == "completed", (job, server.log_tail())
    assert job["mode"] == mode
    return job


def output_image(
    client: httpx.Client, job: dict[str, Any], index: int = 0
) -> tuple[Image.Image, dict[str, str]]:
    """The job's output image and its PNG `parameters` fields."""
    content = client.get(job["outputs"][index]["url"]).content
    image = Image.open(io.BytesIO(content))
    image.load()
    return image, parse_infotext(image.text["parameters"])[2]


def expect_error(client: httpx.Client, mode: str, body: dict[str, Any], code: str, field: str) -> str:
    """The request is refused with `code` and a message naming `field`; returns the message."""
    response = client.post(f"/api/generate/{mode}", json=body)
    assert response.status_code in (400, 404, 422), response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert field in error["message"], error
    return str(error["message"])
