"""Files that crash the engine process (ENGINE_NOTES.md) fail their job, naming the file, and the
server goes on serving: the next job completes on a fresh worker."""

from __future__ import annotations

import httpx
import pytest

from tests.api.modes_support import image_b64, run_mode
from tests.server import ServerProcess


@pytest.mark.parametrize(
    ("mode", "body", "named"),
    [
        ("text2img", {"loras": [{"name": "lora-wrong-shape", "weight": 1.0}]}, "LoRA 'lora-wrong-shape'"),
        (
            "controlnet",
            {"control_image": image_b64(), "control_net": "controlnet-diffusers.safetensors"},
            "ControlNet 'controlnet-diffusers.safetensors'",
        ),
    ],
)
def test_engine_crash_fails_the_job_naming_the_file_and_the_server_survives(
    modes_server: ServerProcess, modes_client: httpx.Client, mode: str, body: dict[str, object], named: str
) -> None:
    payload = {"prompt": "crash", "width": 64, "height": 64, "steps": 1, **body}
    response = modes_client.post(f"/api/generate/{mode}", json=payload)
    assert response.status_code == 202, response.text
    job = modes_server.wait_for(modes_client, response.json()["job_id"], timeout=600)
    # The segfault may come while loading (the worker dies) or the load may be refused first.
    assert job["status"] == "failed", job
    assert job["error_code"] in ("WORKER_CRASHED", "MODEL_LOAD_FAILED"), job
    assert named in job["error"] or named.split(" ", 1)[1] in job["error"], job["error"]
    assert modes_server.process is not None and modes_server.process.poll() is None
    # A fresh worker takes the next job.
    run_mode(modes_server, modes_client, "text2img", width=64, height=64)
