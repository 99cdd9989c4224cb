"""Video (issue 13): txt2vid with the Wan2.1 1.3B random-weight model through the API and the real
engine's generate_video; the job's outputs are an animated WebP and the frames as PNG."""

from __future__ import annotations

import base64
import io
import json

import httpx
from PIL import Image

from tests.api.split_support import FLUX, SMALL
from tests.server import ServerProcess

WAN = {"diffusion_model": "wan2.1-t2v-1.3b-q4_0.gguf", "vae": "wan2.1-vae.safetensors"}
FRAMES = 5


def test_txt2vid_makes_an_animated_webp_and_frames(
    split_server: ServerProcess, split_client: httpx.Client
) -> None:
    body = {**WAN, **SMALL, "prompt": "a wave", "video_frames": FRAMES, "fps": 8, "seed": 5}
    response = split_client.post("/api/generate/txt2vid", json=body)
    assert response.status_code == 202, response.text
    job = split_server.wait_for(split_client, response.json()["job_id"], timeout=1200)
    assert job["status"] == "completed", (job, split_server.log_tail())
    assert job["mode"] == "txt2vid"
    assert (job["current_step"], job["total_steps"]) == (1, 1)  # progress per sampling step
    urls = [output["url"] for output in job["outputs"]]
    assert urls[0].endswith("/video.webp") and len(urls) == 1 + FRAMES
    video = Image.open(io.BytesIO(split_client.get(urls[0]).content))
    assert (video.format, video.n_frames, video.size) == ("WEBP", FRAMES, (64, 64))
    video.load()  # Pillow reads a frame's duration with the frame
    assert video.info["duration"] == 125  # 8 fps
    frame = Image.open(io.BytesIO(split_client.get(urls[1]).content))
    assert frame.size == (64, 64)
    assert "Frames: 5" in frame.text["parameters"]


def test_video_needs_a_video_model(split_client: httpx.Client) -> None:
    response = split_client.post("/api/generate/txt2vid", json={**FLUX, **SMALL, "prompt": "x"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("model_name: Flux models make no video")
    # img2vid's starting image is checked like any input image.
    body = {**WAN, **SMALL, "prompt": "x", "init_image": "not an image"}
    response = split_client.post("/api/generate/img2vid", json=body)
    assert response.status_code == 400 and "init_image" in response.json()["error"]["message"]


def test_img2vid_from_a_file_part(split_server: ServerProcess, split_client: httpx.Client) -> None:
    first = io.BytesIO()
    Image.new("RGB", (80, 72), "orange").save(first, format="PNG")
    body = {**WAN, **SMALL, "prompt": "a start", "video_frames": FRAMES, "strength": 0.8}
    response = split_client.post(
        "/api/generate/img2vid",
        files={"init_image": ("first.png", first.getvalue(), "image/png")},
        data={"request": json.dumps(body)},
    )
    assert response.status_code == 202, response.text
    job = split_server.wait_for(split_client, response.json()["job_id"], timeout=1200)
    assert job["status"] == "completed", (job, split_server.log_tail())
    assert job["mode"] == "img2vid" and len(job["outputs"]) == 1 + FRAMES


def test_validate_knows_the_video_modes(split_client: httpx.Client) -> None:
    body = {**WAN, **SMALL, "prompt": "a wave", "video_frames": FRAMES}
    reply = split_client.post("/api/validate", params={"mode": "txt2vid"}, json=body).json()
    assert reply["valid"], reply
    assert reply["normalized"]["video_frames"] == FRAMES
    # The same checks as the endpoint: a Flux model makes no video; img2vid needs its first frame.
    reply = split_client.post(
        "/api/validate", params={"mode": "txt2vid"}, json={**FLUX, **SMALL, "prompt": "x"}
    ).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "model_name", reply
    reply = split_client.post("/api/validate", params={"mode": "img2vid"}, json=body).json()
    assert not reply["valid"] and reply["errors"][0]["field"] == "init_image", reply
    first = io.BytesIO()
    Image.new("RGB", (80, 72), "orange").save(first, format="PNG")
    encoded = base64.b64encode(first.getvalue()).decode()
    reply = split_client.post(
        "/api/validate", params={"mode": "img2vid"}, json={**body, "init_image": encoded}
    ).json()
    assert reply["valid"], reply
    assert reply["normalized"]["init_image"] == "<image 64x64>"
